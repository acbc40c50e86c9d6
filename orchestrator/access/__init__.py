"""The caller's side of a request: bearer tokens (issued, revoked, checked) and idempotency
keys (a repeated request answered once)."""
