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
import re
from typing import Dict, List, Sequence

import numpy as np
import torch

from .pretrained_init import HEADS_PREFIX

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


# the fine-tuned checkpoints' task heads: release names -> this model's head modules (models/heads.py)
_SENTENCE_HEAD = re.compile(r"^cls_out_(\d+)_w$")


def head_names(params: Dict[str, np.ndarray], names: Dict[str, str]) -> Dict[str, tuple]:
    """The heads ``params`` hold, mapped onto the heads named in ``names`` (kind -> head name):
    ``sentence`` (``cls_out_{N}_w/b``: GLUE, PooledLinearHead), ``snli_ve`` (``cls_out_w_0/b_0`` then
    ``cls_out_w_1/b_1``: SumFusionHead), ``retrieval`` (``match_fc``: ProductScoreHead)."""
    out = {}
    for name in params:
        match = _SENTENCE_HEAD.match(name)
        if match:
            prefix = f"{HEADS_PREFIX}{names['sentence']}.out_proj"
            out[f"{prefix}.weight"] = (name, "fc:labels")
            out[f"{prefix}.bias"] = (f"cls_out_{match.group(1)}_b", "labels")
    if "cls_out_w_0" in params:
        prefix = f"{HEADS_PREFIX}{names['snli_ve']}"
        out.update({f"{prefix}.dense.weight": ("cls_out_w_0", "fc"), f"{prefix}.dense.bias": ("cls_out_b_0", "copy"),
                    f"{prefix}.out_proj.weight": ("cls_out_w_1", "fc:labels"),
                    f"{prefix}.out_proj.bias": ("cls_out_b_1", "labels")})
    if "match_fc.w_0" in params:
        out.update(_fc(f"{HEADS_PREFIX}{names['retrieval']}.out_proj", "match_fc"))
    return out


def head_kinds(params: Dict[str, np.ndarray]) -> Dict[str, int]:
    """kind -> number of outputs of the fine-tuned heads ``params`` hold."""
    kinds = {}
    for name, value in params.items():
        if _SENTENCE_HEAD.match(name):
            kinds["sentence"] = value.shape[-1]
    if "cls_out_w_1" in params:
        kinds["snli_ve"] = params["cls_out_w_1"].shape[-1]
    if "match_fc.w_0" in params:
        kinds["retrieval"] = 1
    return kinds


def label_rows(release_labels: Sequence[str], labels: Sequence[str]) -> np.ndarray:
    """For each class of a labeled set (``labels``, its order), the release head's output that scores it."""
    if sorted(release_labels) != sorted(labels):
        raise ValueError(f"the release head's classes {', '.join(release_labels)} are not the labeled set's "
                         f"{', '.join(labels)}")
    return np.array([list(release_labels).index(label) for label in labels], dtype=np.int64)


def convert(params: Dict[str, np.ndarray], names: Dict[str, tuple], own: Dict[str, torch.Tensor],
            rows: Dict[str, np.ndarray]) -> Dict[str, torch.Tensor]:
    """The state dict of ``own``'s keys that ``names`` maps, from the release's ``params``.

    ``how`` in ``names``: ``copy``, ``fc`` (transposed; several sources stacked, as q, k, v), ``vocab``
    (rows permuted by ``rows["vocab"]``), ``labels`` and ``fc:labels`` (rows permuted by ``rows["labels"]``).
    Every problem is collected and raised at once: release parameters the mapping lacks or does not
    use, and converted tensors whose shape differs from the model's (``own``)."""
    state, problems, used = {}, [], set()
    for key, (source, how) in names.items():
        sources = source if isinstance(source, tuple) else (source,)
        absent = [s for s in sources if s not in params]
        used.update(s for s in sources if s in params)
        if absent:
            problems.append(f"missing {', '.join(absent)} (for {key})")
            continue
        arrays = [params[s].astype(np.float32) for s in sources]
        if how.startswith("fc"):
            if any(a.ndim != 2 for a in arrays):
                problems.append(f"{', '.join(sources)}: an fc weight must be 2-d, got {[a.shape for a in arrays]}")
                continue
            array = np.concatenate([a.T for a in arrays], axis=0)
        else:
            array = np.concatenate(arrays, axis=0) if len(arrays) > 1 else arrays[0]
        permutation = rows.get(how.split(":")[-1])
        if permutation is not None:
            if len(array) <= permutation.max():
                problems.append(f"{sources[0]} has {len(array)} rows, {how.split(':')[-1]} need {permutation.max() + 1}")
                continue
            array = array[permutation]
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
