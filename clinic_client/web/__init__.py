"""The reception terminal's local web app (`clinic serve`): today's check-ins from the
patient-facing reader, the insured-number lookup and the batch."""
