"""Registered tasks of the UNIMO plugin."""
from . import unimo_caption  # noqa: F401
from . import unimo_pretrain  # noqa: F401
from . import unimo_retrieval  # noqa: F401
from . import unimo_sentence_prediction  # noqa: F401
from . import unimo_seq2seq  # noqa: F401
from . import unimo_snli_ve  # noqa: F401
from . import unimo_vqa  # noqa: F401
