"""Registered criterions of the UNIMO plugin."""
from . import unimo_pretrain  # noqa: F401
from . import unimo_retrieval  # noqa: F401
from . import classification  # noqa: F401
from . import soft_bce  # noqa: F401
