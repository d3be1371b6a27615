"""The card check: challenges, proofs of presence, single use of a challenge, the check and its
record.
"""
