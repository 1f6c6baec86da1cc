"""Zero-shot image-text retrieval with the CMCL similarity (cosine of pooled [IMG] and pooled <s>,
each modality encoded alone), on a caption split of a pretraining DATA dir (``unimo-eval-retrieval``)."""
import argparse
import logging
import os
from math import comb

import numpy as np
import torch
from fairseq import checkpoint_utils, utils
from fairseq.data import data_utils

from ..formats.region_store import open_region_store_of, read_rows
from ..models.bi_encoder import embed_split

logger = logging.getLogger(__name__)
PLUGIN_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_model_and_task(checkpoint: str, overrides: dict):
    """(model, task) of a checkpoint of this plugin, its options overridden by ``overrides`` (e.g. the
    data directory to read instead of the training one); the plugin is registered first."""
    utils.import_user_module(argparse.Namespace(user_dir=PLUGIN_DIR))
    models, _, task = checkpoint_utils.load_model_ensemble_and_task([checkpoint], arg_overrides=overrides)
    return models[0], task


def recall_at_k(similarity, caption_images, ks):
    """similarity: (num_images, num_captions); caption_images[c] = the image row of caption c.

    Image->text: an image is a hit when any of its captions is in its top k. Text->image: a
    caption is a hit when its image is in its top k.
    """
    similarity = torch.as_tensor(similarity)
    caption_images = torch.as_tensor(caption_images)
    out = {}
    for k in ks:
        top_captions = similarity.topk(min(k, similarity.size(1)), dim=1).indices  # (I, k)
        i2t = (caption_images[top_captions] == torch.arange(similarity.size(0))[:, None]).any(1).float().mean()
        top_images = similarity.t().topk(min(k, similarity.size(0)), dim=1).indices  # (C, k)
        t2i = (top_images == caption_images[:, None]).any(1).float().mean()
        out[k] = (100 * i2t.item(), 100 * t2i.item())
    return out


def chance_recall_at_k(caption_images, ks):
    """Expected recall@k (in %) of a random ranking, for the same split."""
    caption_images = np.asarray(caption_images)
    num_images, num_captions = caption_images.max() + 1, len(caption_images)
    per_image = np.bincount(caption_images, minlength=num_images)
    out = {}
    for k in ks:
        k_t = min(k, num_captions)
        i2t = np.mean([1 - comb(num_captions - n, k_t) / comb(num_captions, k_t) for n in per_image])
        out[k] = (100 * i2t, 100 * min(k, num_images) / num_images)
    return out


def evaluate_zero_shot(checkpoint, data, pair_data=None, split="test", max_regions=100, ks=(1, 5, 10),
                       batch_size=64):
    """Zero-shot recall@k per k as (image->text, text->image) in %, the chance level of the same split,
    and the caption split's prefix and sizes."""
    model, task = load_model_and_task(checkpoint, {"data": data, "init_from_roberta": None})
    pair_dir = pair_data or os.path.join(data, "pairs")
    prefix = os.path.join(pair_dir, split)
    captions = data_utils.load_indexed_dataset(prefix, task.source_dictionary, combine=False)
    if captions is None:
        raise FileNotFoundError(f"{prefix}.bin: no caption split {split!r} in {pair_dir}")
    image_rows = read_rows(prefix, len(captions))
    store = open_region_store_of(pair_dir)
    images, texts, caption_images = embed_split(model, task.source_dictionary, captions, image_rows, store,
                                                max_regions, batch_size)
    return (recall_at_k(images @ texts.t(), caption_images, ks), chance_recall_at_k(caption_images, ks),
            {"prefix": prefix, "images": len(images), "captions": len(texts)})


if __name__ == "__main__":  # the command moved; say where instead of doing nothing
    raise SystemExit("this is a library module now: run unimo-eval-retrieval (or python -m unimo_plugin.cli.eval_retrieval)")
