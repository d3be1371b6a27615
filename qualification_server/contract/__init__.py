"""The qualification server's wire contract: what a client may know of the server.

Request and answer models (`schemas`), error codes with their texts (`codes`), and the
presence-proof message a face or visual reader signs (`presence`). It imports only pydantic
and the kernel, so the front desk, the connector and the conformance kit depend on the
contract, never on the server's implementation (checked by `make lint`).
"""
