"""kb/analysis."""
