"""Registered criterions of the UNIMO plugin."""
from . import unimo_classification  # noqa: F401
from . import unimo_pretrain  # noqa: F401
from . import unimo_retrieval  # noqa: F401
from . import unimo_soft_bce  # noqa: F401
