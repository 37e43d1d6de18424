"""Planning and driving grids: grid specs, their expansion into run configurations, clean/dirty pairs,
the one study runner and its executors (local processes, Ray)."""
