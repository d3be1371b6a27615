"""Insurers and their credentials."""
