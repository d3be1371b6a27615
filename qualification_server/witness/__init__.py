"""The access log's witness: a separate process, with its own key and its own state file,
that cosigns the server's checkpoints only after verifying each one extends the last it
cosigned (the C2SP tlog-witness protocol), and refuses and reports one that does not.

It is the server's outsider: it imports the kernel and its web stack, never the rest of
`qualification_server` (docs/access-log.md, "The witness")."""
