"""Probe locations (SPEC §20): agent tokens and the locations a server is checked from."""
