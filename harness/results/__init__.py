"""The results database: its schema (declared once), the SQLite store and its guards, results kept when they
could not be recorded, and the exports other tools read."""
