"""Probe locations (SPEC §20): agent tokens, the locations a server is checked from, and a
location going offline or coming back."""
