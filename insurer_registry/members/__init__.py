"""Members: the qualifications an insurer registers, corrects and ends."""
