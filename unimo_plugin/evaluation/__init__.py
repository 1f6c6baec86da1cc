"""Evaluation commands (run as ``python -m unimo_plugin.evaluation.<name>``)."""
