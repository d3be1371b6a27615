"""The access log: every lookup recorded, sealed into a chain, and the housekeeping that seals
it.
"""
