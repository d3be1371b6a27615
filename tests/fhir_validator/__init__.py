"""The independent FHIR validator (validate.mjs, on HL7's core package) as a Python fixture."""
