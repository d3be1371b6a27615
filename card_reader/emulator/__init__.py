"""A software My Number card: its logic (`card`), its persisted state (`image`), and the
bridge that inserts it into a real pcscd through vsmartcard's vpcd driver (`vpcd`)."""
