"""kb/core."""
