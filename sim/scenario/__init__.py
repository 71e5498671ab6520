"""Scenario in: the schema of scenario files, their loading (extends, overrides) and the move catalogue."""
