"""The official UNIMO release's weights (PaddlePaddle ``unimo_{base,large}_en`` and the fine-tuned
``unimo_mnli_{base,large}_en``) as this model's state dict.

The release names every parameter (``formats/paddle_params.py`` reads its files): Paddle fc weights are
[in, out] where torch's Linear holds [out, in]; the query, key and value projections are three fcs where
this model fuses them (q, k, v) into one; its vocabulary (``unimo_en.vocab.txt``: ``[CLS] [PAD] [SEP]
[UNK]``, GPT-2 ids in the order of RoBERTa's ``dict.txt``, three ``madeupword``s, ``[MASK]`` last) maps
onto a fairseq dictionary (``<s> <pad> </s> <unk>``, the same symbols, ``<mask>``) row by row, and rows
are permuted by symbol when a target dictionary orders them differently. Both use text positions from 2
(padding 1) and the same [IMG] row, so positions and regions need no change.
"""
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch

# release vocabulary specials -> fairseq's
SPECIALS = {"[CLS]": "<s>", "[PAD]": "<pad>", "[SEP]": "</s>", "[UNK]": "<unk>", "[MASK]": "<mask>"}


def _fc(prefix: str, name: str) -> Dict[str, tuple]:
    return {f"{prefix}.weight": (f"{name}.w_0", "fc"), f"{prefix}.bias": (f"{name}.b_0", "copy")}


def _layer_norm(prefix: str, name: str) -> Dict[str, tuple]:
    return {f"{prefix}.weight": (f"{name}_layer_norm_scale", "copy"), f"{prefix}.bias": (f"{name}_layer_norm_bias", "copy")}


def backbone_names(num_layers: int) -> Dict[str, tuple]:
    """This model's key -> (release name(s), how to convert) for everything but task heads."""
    names = {
        "text_embeddings.embed_tokens.weight": ("word_embedding", "vocab"),
        "text_embeddings.embed_positions.weight": ("pos_embedding", "copy"),
        **_layer_norm("text_embeddings.layernorm_embedding", "pre_encoder"),
        **_fc("region_embeddings.feature_proj", "image_emb"),
        **_fc("region_embeddings.box_proj", "image_loc"),
        **_layer_norm("region_embeddings.layer_norm", "v_pre_encoder"),
        **_fc("text_pooler.dense", "pooled_fc_text"),
        **_fc("image_pooler.dense", "pooled_fc_image"),
        **_fc("lm_head.dense", "mask_lm_trans_fc"),
        **_layer_norm("lm_head.layer_norm", "mask_lm_trans"),
        "lm_head.bias": ("mask_lm_out_fc.b_0", "vocab"),
    }
    for i in range(num_layers):
        att = f"encoder_layer_{i}_multi_head_att"
        names[f"layers.{i}.self_attn.qkv_proj.weight"] = (
            tuple(f"{att}_{part}_fc.w_0" for part in ("query", "key", "value")), "fc")
        names[f"layers.{i}.self_attn.qkv_proj.bias"] = (
            tuple(f"{att}_{part}_fc.b_0" for part in ("query", "key", "value")), "copy")
        names.update(_fc(f"layers.{i}.self_attn.out_proj", f"{att}_output_fc"))
        names.update(_layer_norm(f"layers.{i}.self_attn_layer_norm", f"encoder_layer_{i}_post_att"))
        names.update(_fc(f"layers.{i}.fc1", f"encoder_layer_{i}_ffn_fc_0"))
        names.update(_fc(f"layers.{i}.fc2", f"encoder_layer_{i}_ffn_fc_1"))
        names.update(_layer_norm(f"layers.{i}.final_layer_norm", f"encoder_layer_{i}_post_ffn"))
    return names


def vocabulary_rows(release_vocab: Sequence[str], symbols: Sequence[str]) -> np.ndarray:
    """For each symbol of a fairseq dictionary, the row of the release's vocabulary that holds it.

    Raises ValueError listing the symbols the release's vocabulary lacks."""
    index = {SPECIALS.get(token, token): row for row, token in enumerate(release_vocab)}
    missing = [s for s in symbols if s not in index]
    if missing:
        raise ValueError(f"{len(missing)} dictionary symbols are not in the release's vocabulary: "
                         f"{', '.join(missing[:10])}{' ...' if len(missing) > 10 else ''}")
    return np.array([index[s] for s in symbols], dtype=np.int64)


def convert(params: Dict[str, np.ndarray], names: Dict[str, tuple], own: Dict[str, torch.Tensor],
            rows: Optional[np.ndarray]) -> Dict[str, torch.Tensor]:
    """The state dict of ``own``'s keys that ``names`` maps, from the release's ``params``.

    Every problem is collected and raised at once: release parameters the mapping lacks or does not
    use, and converted tensors whose shape differs from the model's (``own``)."""
    state, problems, used = {}, [], set()
    for key, (source, how) in names.items():
        sources = source if isinstance(source, tuple) else (source,)
        absent = [s for s in sources if s not in params]
        if absent:
            problems.append(f"missing {', '.join(absent)} (for {key})")
            continue
        used.update(sources)
        arrays = [params[s].astype(np.float32) for s in sources]
        if how == "fc":
            if any(a.ndim != 2 for a in arrays):
                problems.append(f"{', '.join(sources)}: an fc weight must be 2-d, got {[a.shape for a in arrays]}")
                continue
            array = np.concatenate([a.T for a in arrays], axis=0)
        else:
            array = np.concatenate(arrays, axis=0) if len(arrays) > 1 else arrays[0]
        if how == "vocab" and rows is not None:
            if len(array) <= rows.max():
                problems.append(f"{sources[0]} has {len(array)} rows, the vocabulary needs {rows.max() + 1}")
                continue
            array = array[rows]
        if key not in own:
            problems.append(f"{key} (from {', '.join(sources)}) is not a parameter of the model")
        elif tuple(array.shape) != tuple(own[key].shape):
            problems.append(f"{', '.join(sources)} gives {key} the shape {tuple(array.shape)}, the model has "
                            f"{tuple(own[key].shape)}")
        else:
            state[key] = torch.from_numpy(np.ascontiguousarray(array))
    unused = sorted(set(params) - used)
    if unused:
        problems.append(f"release parameters this conversion does not use: {', '.join(unused)}")
    if problems:
        raise ValueError("the release's parameters do not fit:\n  " + "\n  ".join(problems))
    return state


def unconverted(own_keys: List[str], state: Dict[str, torch.Tensor]) -> List[str]:
    """Model keys the release does not provide (kept at their initialisation)."""
    return sorted(k for k in own_keys if k not in state)
