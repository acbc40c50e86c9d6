"""The domain: the lifecycle table, the audit chain's hashing and verification, the
application's errors. Pure rules: no I/O."""
