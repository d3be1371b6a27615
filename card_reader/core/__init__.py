"""The card's protocol, with no I/O: short APDUs and status words, DER/BER lengths, ISO 7816
commands, the JPKI and 券面事項入力補助 sessions, the card's errors, and the one connection
interface every transport implements. Nothing here imports pyscard, sockets, subprocesses, a
web framework or a database (checked by `make lint`)."""
