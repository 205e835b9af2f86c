"""Operability: the /metrics endpoint and the status dashboard in the admin (issue #8)."""
