"""The scheduler: a pure policy decides over a snapshot; one applier commits the plan."""
