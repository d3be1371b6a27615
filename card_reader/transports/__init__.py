"""Connections that carry APDUs: PC/SC through pyscard, or straight to an emulated card."""
