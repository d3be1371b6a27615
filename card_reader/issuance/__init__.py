"""Card issuance for tests: what J-LIS does in Japan, with clearly-marked test CAs.

`profile` builds certificates and CRLs (pure), `residents` reads who to issue for, `issuer`
keeps an issuer directory on disk: CAs, CRL, the certificate → person directory, card images.
"""
