"""Shared pieces of the fine-tuning tests: a BPE trained on the test's own texts, a region store
whose features encode a colour and a shape, and the fairseq-train command of a tiny model."""
import os
from argparse import Namespace

import numpy as np

from ..formats.region_store import RegionStoreWriter
from ..preprocess.text.bpe_training import train_bpe
from . import vocabulary
from .commands import REPO_ROOT, fairseq_bin

COLOURS, SHAPES = vocabulary.COLOURS[:3], vocabulary.SHAPES[:2]  # 6 kinds of image: learnable in a few updates
FEATURE_DIM = 12


def make_bpe(texts, directory):
    """(bpe Namespace, CLI args, dict.txt path) of a small byte-level BPE trained on ``texts``, which
    are left in ``directory + ".txt"``."""
    corpus = directory + ".txt"
    with open(corpus, "w", encoding="utf-8") as f:
        f.writelines(t + "\n" for t in texts)
    train_bpe([corpus], directory, vocab_size=300, min_frequency=1)
    cfg = Namespace(bpe="gpt2", gpt2_encoder_json=os.path.join(directory, "encoder.json"),
                    gpt2_vocab_bpe=os.path.join(directory, "vocab.bpe"))
    args = ["--gpt2-encoder-json", cfg.gpt2_encoder_json, "--gpt2-vocab-bpe", cfg.gpt2_vocab_bpe]
    return cfg, args, os.path.join(directory, "dict.txt")


def colour_of(k):
    return COLOURS[k % len(COLOURS)]


def shape_of(k):
    return SHAPES[(k // len(COLOURS)) % len(SHAPES)]


def write_scene_store(path, image_ids, seed=0):
    """Image ``image_ids[k]`` shows a ``colour_of(k)`` ``shape_of(k)``: its 2-4 regions carry the
    colour in feature dims 0-2 and the shape in dims 3-4, under noise."""
    rng = np.random.default_rng(seed)
    with RegionStoreWriter(path, FEATURE_DIM, "float32") as writer:
        for k, image_id in enumerate(image_ids):
            n = int(rng.integers(2, 5))
            features = rng.normal(scale=0.5, size=(n, FEATURE_DIM))
            features[:, COLOURS.index(colour_of(k))] += 3
            features[:, 3 + SHAPES.index(shape_of(k))] += 3
            xy = rng.uniform(0, 40, (n, 2))
            writer.add(str(image_id), 100, 80, np.concatenate([xy, xy + 30], 1), features)


def finetune_command(data, save_dir, task, criterion, max_update, *extra):
    return [
        fairseq_bin("fairseq-train"), data, "--user-dir", f"{REPO_ROOT}/unimo_plugin",
        "--task", task, "--criterion", criterion, "--arch", "unimo_tiny", "--region-feature-dim", str(FEATURE_DIM),
        "--encoder-layers", "2", "--encoder-embed-dim", "64", "--encoder-ffn-embed-dim", "128",
        "--dropout", "0.0", "--attention-dropout", "0.0", "--head-dropout", "0.0",
        "--optimizer", "unimo_adam", "--weight-decay", "0.01", "--lr", "1e-3", "--lr-scheduler", "fixed",
        "--warmup-updates", "10",
        "--batch-size", "16", "--max-update", str(max_update), "--log-format", "simple", "--log-interval", "20",
        "--cpu", "--seed", "3", "--num-workers", "0", "--save-dir", save_dir, "--no-epoch-checkpoints",
        *extra,
    ]
