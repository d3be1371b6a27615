"""The access log's transparency: an RFC 9162 Merkle tree, C2SP signed notes, checkpoints and
witness cosignatures (docs/access-log.md, "The tree and its checkpoints"). Pure: no I/O; the
database tree, the witness process and the pages are built on top of it."""
