"""The HTTP API: the app factory and wiring, the routes' dependencies, the error mapping and
metrics.
"""
