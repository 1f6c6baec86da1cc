"""UNIMO as a fairseq user dir: ``fairseq-train --user-dir unimo_plugin ...``.

fairseq imports this package by path, so everything the plugin registers (models, tasks,
criterions) is imported from here.
"""
import argparse

import torch

# fairseq checkpoints pickle an argparse.Namespace; torch >= 2.6 loads with weights_only=True.
if hasattr(torch.serialization, "add_safe_globals"):
    torch.serialization.add_safe_globals([argparse.Namespace])

from . import criterions, data, models, tasks  # noqa: E402,F401
