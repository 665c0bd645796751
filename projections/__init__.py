"""Projections: pure folds of the log into read models. No I/O; the runner in ``services`` feeds
them events and persists their state with a checkpoint."""
