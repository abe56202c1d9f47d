"""kb/domain."""
