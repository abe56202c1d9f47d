"""kb/ingest."""
