"""Bulk registration from CSV: stream → validate each row → stage → check as a set → merge.

See `service.import_csv` for the whole, and README.md for the file format.
"""
