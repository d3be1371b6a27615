"""JPKI trust: which CAs the server accepts, their CRLs, and certificate validation."""
