"""kb/store/write."""
