"""The official UNIMO release's checkpoints as fairseq checkpoints of this plugin.

Reads a release directory (one Paddle parameter file per parameter, see ``formats/paddle_params.py``),
its model config JSON (``unimo_base_en.json``: sizes) and vocabulary (``unimo_en.vocab.txt``), and
writes ``OUT/model.pt`` (a fairseq checkpoint of ``--arch unimo`` with the config's sizes) and
``OUT/dict.txt`` (the vocabulary as a fairseq dictionary; the task adds ``<mask>``). A pretrained
checkpoint is saved for ``unimo_pretrain``; a fine-tuned one for the task of its head, the head mapped
onto that task's release head: ``cls_out_{N}_w/b`` -> ``unimo_sentence_prediction`` (GLUE),
``cls_out_w_0``..``_1`` -> ``unimo_snli_ve``, ``match_fc`` -> ``unimo_retrieval``. Parameters the release
does not have (the masked-region heads of pretraining, CMCL's temperature) keep their initialisation.
"""
import json
import logging
import os
import shutil
import warnings
from typing import Dict, List, Optional, Sequence

import torch
from fairseq import options
from fairseq.data import Dictionary
from fairseq.dataclass.utils import convert_namespace_to_omegaconf
from omegaconf import OmegaConf

from ..common.artifacts import InputError, atomic_output, write_manifest
from ..formats.glue_tasks import GLUE_TASKS, NLI_LABELS
from ..formats.paddle_params import read_params
from ..models.heads import PooledLinearHead, ProductScoreHead, SumFusionHead
from ..models.official_checkpoint import (
    backbone_names,
    convert,
    head_kinds,
    head_names,
    label_rows,
    unconverted,
    vocabulary_rows,
)
from ..models.unimo import UnimoConfig, UnimoModel

logger = logging.getLogger(__name__)
PLUGIN_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# the tasks and head names a fine-tuned head converts into
HEAD_TASKS = {"sentence": ("unimo_sentence_prediction", "sentence_classification_head"),
              "snli_ve": ("unimo_snli_ve", "snli_ve"), "retrieval": ("unimo_retrieval", "retrieval")}
# the release's MNLI classes in the order of its head's outputs: the label ids of the GLUE data the release
# fine-tuned on (ERNIE's preprocessed GLUE). Not in the release's code: pass --head-labels to change it.
RELEASE_NLI_LABELS = ("contradiction", "entailment", "neutral")
_CONFIG_KEYS = ("hidden_size", "num_hidden_layers", "num_attention_heads", "max_position_embeddings",
                "vocab_size", "image_embedding_size")


def read_release_config(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            config = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise InputError(path, f"not a release model config ({e})") from None
    missing = [key for key in _CONFIG_KEYS if key not in config]
    if missing:
        raise InputError(path, f"a release model config needs {', '.join(missing)}")
    if config.get("hidden_act", "gelu") != "gelu":
        raise InputError(path, f"hidden_act {config['hidden_act']!r}: this model's layers use gelu")
    return config


def read_vocabulary(path: str, size: int) -> List[str]:
    """The release vocabulary, one token per line; its layout is checked (specials first, [MASK] last)."""
    with open(path, encoding="utf-8") as f:
        tokens = [line.rstrip("\n").split("\t")[0] for line in f]
    if len(tokens) != size:
        raise InputError(path, f"{len(tokens)} tokens, the model config says vocab_size {size}")
    if tokens[:4] != ["[CLS]", "[PAD]", "[SEP]", "[UNK]"] or tokens[-1] != "[MASK]":
        raise InputError(path, "not the release's vocabulary layout: [CLS] [PAD] [SEP] [UNK] first, [MASK] last")
    return tokens


def model_options(config: dict) -> Dict[str, object]:
    """This model's options for a release config: positions 2.. (padding 1) as in fairseq's RoBERTa."""
    return {"encoder_layers": config["num_hidden_layers"], "encoder_embed_dim": config["hidden_size"],
            "encoder_ffn_embed_dim": 4 * config["hidden_size"],
            "encoder_attention_heads": config["num_attention_heads"],
            "max_positions": config["max_position_embeddings"] - 2,
            "region_feature_dim": config["image_embedding_size"],
            "num_region_classes": config.get("image_class_size", 1601)}


def target_dictionary(vocabulary: Sequence[str], dict_path: Optional[str]) -> Dictionary:
    """The fairseq dictionary the checkpoint uses: ``dict_path``'s (e.g. RoBERTa's), or the vocabulary's own
    symbols in its order; with ``<mask>`` last, as the UNIMO tasks add it."""
    if dict_path:
        dictionary = Dictionary.load(dict_path)
    else:
        dictionary = Dictionary()
        for token in vocabulary[4:-1]:
            dictionary.add_symbol(token, n=0)
    dictionary.add_symbol("<mask>")
    return dictionary


class _Heads:
    """What ``UnimoModel.build_model`` reads of a task: the dictionary and the heads to register."""

    def __init__(self, dictionary, heads):
        self.source_dictionary, self._heads = dictionary, heads

    def classification_heads(self, cfg):
        return self._heads


def _heads(params, kinds, embed_dim):
    heads = {}
    if "sentence" in kinds:
        heads[HEAD_TASKS["sentence"][1]] = PooledLinearHead(embed_dim, kinds["sentence"])
    if "snli_ve" in kinds:
        heads[HEAD_TASKS["snli_ve"][1]] = SumFusionHead(embed_dim, params["cls_out_w_0"].shape[1], kinds["snli_ve"])
    if "retrieval" in kinds:
        heads[HEAD_TASKS["retrieval"][1]] = ProductScoreHead(embed_dim)
    return heads


def _labels(kind, outputs, glue_task, release_labels):
    """(the labeled set's classes in its order, the release head's in its output order), or None when
    the head's outputs need no reordering."""
    if kind == "sentence":
        if glue_task is None:
            glue_task = "MNLI" if outputs == 3 else None
        if glue_task is None:
            raise ValueError(f"a {outputs}-output GLUE head: name its task with --glue-task ({', '.join(GLUE_TASKS)})")
        labels = GLUE_TASKS[glue_task].labels
        default = RELEASE_NLI_LABELS if glue_task == "MNLI" else labels
    else:
        labels, default = NLI_LABELS, NLI_LABELS
    if labels is None:  # regression
        return None
    if len(labels) != outputs:
        raise ValueError(f"the release head has {outputs} outputs, the task's labels are {', '.join(labels)}")
    return labels, tuple(release_labels or default)


def _checkpoint_config(task, output_dir, model_opts, extra_task_args, bpe_record):
    """The fairseq config saved with the checkpoint: the task of its head and ``--arch unimo``."""
    args = [output_dir, "--user-dir", PLUGIN_DIR, "--task", task, "--arch", "unimo"]
    for name, value in model_opts.items():
        args += [f"--{name.replace('_', '-')}", str(value)]
    args += extra_task_args
    if bpe_record is not None:
        args += ["--bpe-record", bpe_record]
    parsed = options.parse_args_and_arch(options.get_training_parser(), args)
    with warnings.catch_warnings():  # only fairseq's conversion runs here: hydra's notices about how it is called
        warnings.simplefilter("ignore")
        cfg = convert_namespace_to_omegaconf(parsed)
    return OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)


def convert_official(params_dir: str, config_path: str, vocab_path: str, output_dir: str,
                     dict_path: Optional[str] = None, gpt2_bpe: Optional[Sequence[str]] = None,
                     glue_task: Optional[str] = None, release_labels: Optional[Sequence[str]] = None) -> dict:
    """Write ``output_dir`` (model.pt, dict.txt, and the BPE files when ``gpt2_bpe`` = (encoder.json,
    vocab.bpe) is given, recorded in the checkpoint); return its manifest."""
    config = read_release_config(config_path)
    vocabulary = read_vocabulary(vocab_path, config["vocab_size"])
    params = read_params(params_dir)
    dictionary = target_dictionary(vocabulary, dict_path)
    kinds = head_kinds(params)
    if len(kinds) > 1:
        raise ValueError(f"{params_dir} holds the heads of several tasks ({', '.join(kinds)}): convert one at a time")
    kind = next(iter(kinds), None)
    opts = model_options(config)
    model = UnimoModel.build_model(UnimoConfig(**opts), _Heads(dictionary, _heads(params, kinds, opts["encoder_embed_dim"])))
    rows = {"vocab": vocabulary_rows(vocabulary, dictionary.symbols)}
    labels = _labels(kind, kinds[kind], glue_task, release_labels) if kind in ("sentence", "snli_ve") else None
    if labels is not None:
        rows["labels"] = label_rows(labels[1], labels[0])
    names = dict(backbone_names(config["num_hidden_layers"]))
    names.update(head_names(params, {k: name for k, (_, name) in HEAD_TASKS.items()}))
    own = model.state_dict()
    state = convert(params, names, own, rows)
    kept = unconverted([k for k in own if k != "lm_head.weight"], state)  # lm_head.weight is the word embedding
    task = HEAD_TASKS[kind][0] if kind else "unimo_pretrain"
    task_args = []
    if kind == "snli_ve":
        task_args = ["--head-hidden-dim", str(params["cls_out_w_0"].shape[1])]
    with atomic_output(output_dir) as tmp:
        os.makedirs(tmp)
        bpe_record = None
        if gpt2_bpe:
            names_in_out = ("encoder.json", "vocab.bpe")
            for source, name in zip(gpt2_bpe, names_in_out):
                shutil.copyfile(source, os.path.join(tmp, name))
            bpe_record = json.dumps({"bpe": "gpt2", "gpt2_encoder_json": os.path.join(os.path.abspath(output_dir),
                                                                                      names_in_out[0]),
                                     "gpt2_vocab_bpe": os.path.join(os.path.abspath(output_dir), names_in_out[1]),
                                     "lowercase": True},  # the release's models read lowercased text
                                    sort_keys=True)
        dictionary.save(os.path.join(tmp, "dict.txt"))
        with open(os.path.join(tmp, "dict.txt")) as f:  # the task adds <mask> itself
            lines = [line for line in f if not line.startswith("<mask> ")]
        with open(os.path.join(tmp, "dict.txt"), "w") as f:
            f.writelines(lines)
        model.load_state_dict(state, strict=False)  # the tied LM-head weight then holds the embeddings too
        full = model.state_dict()
        checkpoint = {"cfg": _checkpoint_config(task, os.path.abspath(output_dir), opts, task_args, bpe_record),
                      "model": full, "last_optimizer_state": None, "task_state": {},
                      "extra_state": {"train_iterator": {"epoch": 1, "iterations_in_epoch": 0}},  # a fresh start
                      # fairseq's loader reads the last entry; no optimizer state comes with a conversion
                      "optimizer_history": [{"criterion_name": None, "optimizer_name": None,
                                             "lr_scheduler_state": {}, "num_updates": 0}]}
        torch.save(checkpoint, os.path.join(tmp, "model.pt"))
    if kept:
        logger.info("kept at their initialisation (not in the release): %s", ", ".join(kept))
    return write_manifest(output_dir, "official_unimo_conversion", source=os.path.abspath(params_dir),
                          config=os.path.abspath(config_path), vocabulary=os.path.abspath(vocab_path),
                          task=task, head=kind, parameters=len(params), converted=len(state), initialised=kept,
                          release_labels=list(labels[1]) if labels else None,
                          labels=list(labels[0]) if labels else None)
