"""Initialise UNIMO's text path from a fairseq RoBERTa checkpoint.

Accepts the layout of the released ``roberta.base`` / ``roberta.large`` ``model.pt``
(``decoder.sentence_encoder.*``, ``emb_layer_norm``, fused ``in_proj_weight``) as well as
checkpoints written by current fairseq (``encoder.sentence_encoder.*``, ``layernorm_embedding``,
separate ``q_proj``/``k_proj``/``v_proj``).
"""
import logging
import os
import re

import torch
from fairseq.file_io import PathManager

logger = logging.getLogger(__name__)

# RoBERTa name (after normalisation) -> UNIMO name
_PREFIXES = (
    ("encoder.sentence_encoder.embed_tokens.", "text_embeddings.embed_tokens."),
    ("encoder.sentence_encoder.embed_positions.", "text_embeddings.embed_positions."),
    ("encoder.sentence_encoder.layernorm_embedding.", "text_embeddings.layernorm_embedding."),
    ("encoder.sentence_encoder.layers.", "layers."),
    ("encoder.lm_head.", "lm_head."),
)
# bookkeeping entries that hold no weights
_IGNORED = re.compile(r"(^|\.)(version|_float_tensor)$")


def _normalise(state):
    """Rename old fairseq RoBERTa keys to the current layout and fuse the q/k/v projections into
    UNIMO's ``qkv_proj`` (old checkpoints already hold them fused, q then k then v, as ``in_proj``)."""
    out = {}
    for key, value in state.items():
        key = re.sub(r"^decoder\.", "encoder.", key)
        key = key.replace(".emb_layer_norm.", ".layernorm_embedding.")
        key = re.sub(r"\.self_attn\.in_proj_(weight|bias)$", r".self_attn.qkv_proj.\1", key)
        out[key] = value
    for key in [k for k in out if re.search(r"\.self_attn\.q_proj\.(weight|bias)$", k)]:
        parts = [out.pop(key.replace(".q_proj.", f".{name}.")) for name in ("q_proj", "k_proj", "v_proj")]
        out[key.replace(".q_proj.", ".qkv_proj.")] = torch.cat(parts, dim=0)
    return out


def roberta_to_unimo_state(state):
    """Map a RoBERTa state dict to UNIMO parameter names; raise on keys with no UNIMO counterpart."""
    mapped, unmatched = {}, []
    for key, value in _normalise(state).items():
        if _IGNORED.search(key):
            continue
        for old, new in _PREFIXES:
            if key.startswith(old):
                mapped[new + key[len(old):]] = value
                break
        else:
            unmatched.append(key)
    if unmatched:
        raise ValueError(f"RoBERTa checkpoint keys with no UNIMO counterpart: {', '.join(sorted(unmatched))}")
    return mapped


def load_roberta_into(model, path):
    """Copy RoBERTa weights into ``model``'s text path; every mismatch is an error listing the keys."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"--init-from-roberta: no such file: {path}")
    with PathManager.open(path, "rb") as f:
        checkpoint = torch.load(f, map_location="cpu")  # weights only: argparse.Namespace is a safe global
    if "model" not in checkpoint:
        raise ValueError(f"{path} is not a fairseq checkpoint: it has no 'model' entry")
    state = roberta_to_unimo_state(checkpoint["model"])
    own = model.state_dict()
    missing = sorted(set(state) - set(own))
    shapes = sorted(f"{k} {tuple(v.shape)} vs {tuple(own[k].shape)}"
                    for k, v in state.items() if k in own and v.shape != own[k].shape)
    if missing or shapes:
        raise ValueError(
            f"{path} does not fit this UNIMO architecture:"
            + (f"\n  not in UNIMO: {', '.join(missing)}" if missing else "")
            + (f"\n  mis-shaped: {'; '.join(shapes)}" if shapes else "")
        )
    text_keys = {k for k in own if k.startswith(("text_embeddings.", "layers.", "lm_head."))}
    not_loaded = sorted(text_keys - set(state))
    if not_loaded:
        raise ValueError(f"{path} lacks text-path weights: {', '.join(not_loaded)}")
    with torch.no_grad():
        for key, value in state.items():
            own[key].copy_(value)
    logger.info("initialised %d text-path tensors from RoBERTa checkpoint %s", len(state), path)
