"""Base templates, static assets and the helpers every dashboard view shares."""
