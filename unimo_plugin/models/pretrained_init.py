"""Initialise a UNIMO model for fine-tuning from another UNIMO checkpoint (``--pretrained``).

Every parameter of the checkpoint must fit the model; task heads (``classification_heads.*``) the
model has and the checkpoint lacks keep their fresh init, and the checkpoint's other heads are dropped.
"""
import logging
import os

import torch
from fairseq.file_io import PathManager

logger = logging.getLogger(__name__)

HEADS_PREFIX = "classification_heads."


def load_pretrained_into(model, path):
    if not os.path.exists(path):
        raise FileNotFoundError(f"--pretrained: no such file: {path}")
    with PathManager.open(path, "rb") as f:
        checkpoint = torch.load(f, map_location="cpu")
    if "model" not in checkpoint:
        raise ValueError(f"{path} is not a fairseq checkpoint: it has no 'model' entry")
    state = {k: v for k, v in checkpoint["model"].items() if not k.startswith(HEADS_PREFIX)}
    model._upgrade_temperature(state, "")
    own = model.state_dict()
    unknown = sorted(set(state) - set(own))
    missing = sorted(k for k in set(own) - set(state) if not k.startswith(HEADS_PREFIX))
    shapes = sorted(f"{k} {tuple(v.shape)} vs {tuple(own[k].shape)}"
                    for k, v in state.items() if k in own and v.shape != own[k].shape)
    if unknown or missing or shapes:
        raise ValueError(
            f"--pretrained {path} does not fit this architecture (check --arch and --region-feature-dim):"
            + (f"\n  not in the model: {', '.join(unknown)}" if unknown else "")
            + (f"\n  not in the checkpoint: {', '.join(missing)}" if missing else "")
            + (f"\n  mis-shaped: {'; '.join(shapes)}" if shapes else "")
        )
    with torch.no_grad():
        for key, value in state.items():
            own[key].copy_(value)
    logger.info("initialised %d tensors from UNIMO checkpoint %s", len(state), path)
