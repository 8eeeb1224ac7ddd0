"""Background pipeline: the work queue and the workers that drain it."""
