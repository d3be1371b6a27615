"""The front desk's local web app (`clinic serve`)."""
