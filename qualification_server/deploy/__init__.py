"""A deployment on one machine that stands for many (docs/deployment.md): HAProxy in front of
several server instances, a PostgreSQL primary and its streaming hot standby. `Cluster` runs
it; `python -m qualification_server.deploy up|down|status --dir DIR` from a shell."""
