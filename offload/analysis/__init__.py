"""Analysis: everything computed from a run directory's raw records, and nothing else."""
