"""Image-text retrieval with a fine-tuned cross-encoder (``unimo_retrieval``), on a caption split
(``unimo-eval-cross-retrieval``).

exhaustive: the cross-encoder scores every (image, caption) pair of the split.
two-stage: the CMCL bi-encoder similarity (pooled [IMG] and pooled <s>, each modality encoded
alone) picks each image's top-k captions and each caption's top-k images; only those pairs are
scored by the cross-encoder and reranked; candidates outside a query's top k rank below its top k
in bi-encoder order. With top-k at least the number of images and captions, both modes agree.
"""
import logging
import time

import numpy as np
import torch
from fairseq.data import data_utils
from tqdm import tqdm

from ..data.collate import collate_regions
from ..data.region_inputs import load_regions
from ..models.bi_encoder import embed_split
from ..models.cross_encoder import cross_encoder_scores
from .retrieval import load_model_and_task, recall_at_k

logger = logging.getLogger(__name__)
MODES = ("exhaustive", "two-stage")


class PairScorer:
    """Cross-encoder scores of (image, caption) index pairs of one split, in batches.

    Images (the split's distinct store rows) and captions are padded once; each batch is cut
    back to its own longest image and caption.
    """

    def __init__(self, model, dictionary, captions, rows, store, max_regions, batch_size=256, progress=True):
        self.model, self.batch_size, self.progress = model.eval(), batch_size, progress
        regions = collate_regions([load_regions(store, int(r), max_regions) for r in rows])
        self.features, self.boxes, self.region_pad = regions["features"], regions["boxes"], regions["padding_mask"]
        self.num_regions = (~self.region_pad).sum(1)
        bos = torch.tensor([dictionary.bos()])
        self.tokens = data_utils.collate_tokens([torch.cat([bos, captions[i].long()]) for i in range(len(captions))],
                                                dictionary.pad())
        self.lengths = self.tokens.ne(dictionary.pad()).sum(1)
        self.device = next(model.parameters()).device
        self.pairs_scored = 0

    @torch.no_grad()
    def __call__(self, pairs):
        """pairs: (P, 2) long tensor of (image index, caption index) -> (P,) scores."""
        out = torch.empty(len(pairs))
        for start in tqdm(range(0, len(pairs), self.batch_size), desc="cross-encoder", unit="batch",
                          disable=not self.progress):
            image, text = pairs[start:start + self.batch_size].unbind(1)
            r, t = int(self.num_regions[image].max()), int(self.lengths[text].max())
            batch = (self.tokens[text, :t], self.features[image, :r], self.boxes[image, :r], self.region_pad[image, :r])
            out[start:start + len(image)] = cross_encoder_scores(
                self.model, *(x.to(self.device) for x in batch))[0].float().cpu()
        self.pairs_scored += len(pairs)
        return out


def exhaustive_scores(num_images, num_captions, score_pairs):
    """(I, C) cross-encoder scores of every pair; one matrix serves both directions."""
    pairs = torch.cartesian_prod(torch.arange(num_images), torch.arange(num_captions))
    scores = score_pairs(pairs).view(num_images, num_captions)
    return scores, scores


def two_stage_scores(similarity, top_k, score_pairs):
    """Rankings of the two-stage search as (I, C) matrices for image->text and text->image.

    ``similarity`` (I, C): bi-encoder scores. Each image's top-k captions and each caption's top-k
    images are scored once by ``score_pairs``; in each direction a query's top k is ordered by those
    scores and placed above its other candidates, which keep their bi-encoder order.
    """
    num_images, num_captions = similarity.shape
    i2t = torch.zeros_like(similarity, dtype=torch.bool)
    i2t.scatter_(1, similarity.topk(min(top_k, num_captions), dim=1).indices, True)
    t2i = torch.zeros_like(similarity, dtype=torch.bool)
    t2i.scatter_(0, similarity.topk(min(top_k, num_images), dim=0).indices, True)
    candidates = (i2t | t2i).nonzero()
    cross = torch.empty_like(similarity)
    cross[candidates[:, 0], candidates[:, 1]] = score_pairs(candidates)
    # below every cross-encoder score, in bi-encoder order
    below = cross[candidates[:, 0], candidates[:, 1]].min() - 1 + (similarity - similarity.max())
    return torch.where(i2t, cross, below), torch.where(t2i, cross, below)


def evaluate(model, dictionary, captions, image_rows, store, mode="exhaustive", top_k=20, ks=(1, 5, 10),
             max_regions=100, batch_size=256, progress=True):
    """Recall@k per k as (image->text, text->image) in %, and what it cost: seconds and pairs scored."""
    rows = np.unique(image_rows)
    caption_images = np.searchsorted(rows, image_rows)
    start = time.perf_counter()
    scorer = PairScorer(model, dictionary, captions, rows, store, max_regions, batch_size, progress)
    if mode == "exhaustive":
        i2t, t2i = exhaustive_scores(len(rows), len(captions), scorer)
    elif mode == "two-stage":
        images, texts, _ = embed_split(model, dictionary, captions, image_rows, store, max_regions, batch_size,
                                       progress)
        i2t, t2i = two_stage_scores(images @ texts.t(), top_k, scorer)
    else:
        raise ValueError(f"mode {mode!r} is not one of {MODES}")
    seconds = time.perf_counter() - start
    by_i2t, by_t2i = recall_at_k(i2t, caption_images, ks), recall_at_k(t2i, caption_images, ks)
    recall = {k: (by_i2t[k][0], by_t2i[k][1]) for k in ks}
    return recall, {"seconds": seconds, "pairs_scored": scorer.pairs_scored, "images": len(rows),
                    "captions": len(captions)}


def load_checkpoint(path, data, pair_data=None):
    """The model and its ``unimo_retrieval`` task, reading ``data`` instead of the training paths."""
    overrides = {"data": data}
    if pair_data:
        overrides["pair_data"] = pair_data
    return load_model_and_task(path, overrides)


def evaluate_checkpoint(checkpoint, data, pair_data=None, split="test", mode="exhaustive", top_k=20, ks=(1, 5, 10),
                        max_regions=100, batch_size=256, cpu=False, progress=True):
    """:func:`evaluate` of a ``unimo_retrieval`` checkpoint on a caption split, on CUDA unless ``cpu``."""
    model, task = load_checkpoint(checkpoint, data, pair_data)
    if torch.cuda.is_available() and not cpu:
        model.cuda()
    captions, image_rows = task.load_split(split)
    return evaluate(model, task.source_dictionary, captions, image_rows, task.region_store(), mode, top_k, ks,
                    max_regions, batch_size, progress)


if __name__ == "__main__":  # the command moved; say where instead of doing nothing
    raise SystemExit("this is a library module now: run unimo-eval-cross-retrieval (or python -m unimo_plugin.cli.eval_cross_retrieval)")
