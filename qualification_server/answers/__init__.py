"""Answers: the wire's eligibility answer built from the registry's qualifications, and its
FHIR form.
"""
