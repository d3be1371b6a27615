"""Clinics: their tokens, their registered readers, and who is calling."""
