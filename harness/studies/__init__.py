"""The source studies as shipped presets (presets/*.toml): loading, planning, datasets, cost, export."""
