"""The job ledger: one record per job in Redis beside its queue message."""
