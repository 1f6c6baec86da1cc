"""Registered tasks of the UNIMO plugin."""
