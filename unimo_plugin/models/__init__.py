"""The ``unimo`` model and its architectures."""
from .unimo import UnimoConfig, UnimoModel  # noqa: F401
