"""Sharing datasets: provenance (licenses, citations, rebuild commands), dataset cards and Croissant, `info`,
`preview`, `get` and `export-data`."""
