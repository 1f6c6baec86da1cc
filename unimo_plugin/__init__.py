"""UNIMO as a fairseq user dir: ``fairseq-train --user-dir unimo_plugin ...``.

fairseq imports this package by path, so everything the plugin registers (models, tasks,
criterions, optimizers) is imported from here.
"""
import argparse
import contextlib
import logging
import warnings

import torch

# fairseq checkpoints pickle an argparse.Namespace; torch >= 2.6 loads with weights_only=True.
if hasattr(torch.serialization, "add_safe_globals"):
    torch.serialization.add_safe_globals([argparse.Namespace])


@contextlib.contextmanager
def _quiet_fairseq_import():
    """Drop exactly the two noises that importing fairseq prints, and only while it is imported: torch's
    FutureWarning about ``torch.jit.script`` (fairseq scripts functions at import) and fairseq's
    "Please install tensorboardX" (for its speech task; --tensorboard-logdir uses torch's writer).

    Here and not in the commands' runner (unimo_plugin/cli/runner.py): Python runs this package's
    ``__init__`` before any command module. Where fairseq was imported earlier (``fairseq-train``),
    fairseq has printed them already.
    """
    text_to_speech = logging.getLogger("fairseq.tasks.text_to_speech")

    def no_tensorboardx_hint(record):
        return not record.getMessage().startswith("Please install tensorboardX")

    text_to_speech.addFilter(no_tensorboardx_hint)
    try:
        with warnings.catch_warnings():
            # "is deprecated", or on Python 3.14+ "is not supported"
            warnings.filterwarnings("ignore", r"`torch\.jit\.script` is ", FutureWarning, r"torch\.jit\.")
            yield
    finally:
        text_to_speech.removeFilter(no_tensorboardx_hint)


with _quiet_fairseq_import():
    from . import criterions, data, models, optim, tasks  # noqa: E402,F401
