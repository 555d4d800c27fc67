"""Probe locations (SPEC §20): agent tokens, and a location going offline or coming back."""
