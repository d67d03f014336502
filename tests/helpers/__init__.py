"""Helpers shared by the tests: composing configs, running the command, reading W&B files."""
