"""kb/process."""
