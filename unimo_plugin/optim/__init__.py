"""Optimizers the plugin registers with fairseq."""
from . import unimo_adam  # noqa: F401
