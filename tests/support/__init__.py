"""Test support shared by every test package, loaded as pytest plugins by tests/conftest.py:
the databases and the qualification server's world (`world`), the registry's (`registry`),
the emulated cards behind pcscd (`cards`) and the front desk in a browser (`desk`); and a
free local port for a server a test starts (`ports`)."""
