"""The registry's HTTP API: the app, the callers' dependencies, idempotent writes and the
error mapping."""
