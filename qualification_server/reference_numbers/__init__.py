"""照会番号登録: a clinic's own number for a patient, registered by insured number, single or
in bulk; the clinic's later answers about that person carry it (no other clinic's do).
"""
