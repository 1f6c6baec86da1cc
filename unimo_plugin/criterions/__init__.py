"""Registered criterions of the UNIMO plugin."""
