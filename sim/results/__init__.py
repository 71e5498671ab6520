"""Results out: outcomes of each run, the ensemble summary, and run folders written atomically."""
