"""The HTTP API (FastAPI): auth, validation and the error model; no business rules."""
