"""Reports from the results database: the data model, tables (Markdown, CSV, LaTeX), figures,
statistics over seeds, the published numbers beside ours, and the test-time tables."""
