"""Image-text pair pretraining samples: masked LM + masked regions conditioned on the other
modality, or image -> caption seq2seq LM; plus the CMCL anchors and sidecar items of each pair."""
import numpy as np
import torch
from fairseq.data import data_utils

from . import cmcl_sidecars
from .collate import collate_region_part, collate_regions, collate_text_part
from .object_tags import tag_source
from .pretrain_corpus import PretrainCorpus
from .region_masking import masked_region_sample
from .regions import load_regions
from .token_masking import mask_tokens, seq2seq_example

CMCL_LIMIT_KEYS = {"paraphrases": "cmcl_paraphrases", "negatives": "cmcl_negatives",
                   "texts": "cmcl_retrieved_texts", "images": "cmcl_retrieved_images"}


def _largest_per_caption(values, offsets):
    """max(values[offsets[i]:offsets[i+1]]) per caption, 0 where a caption has none."""
    offsets = np.asarray(offsets)
    out = np.zeros(len(offsets) - 1, dtype=np.int64)
    has = np.diff(offsets) > 0
    if has.any():
        out[has] = np.maximum.reduceat(values, offsets[:-1][has])
    return out


class PairCorpusDataset(PretrainCorpus):
    """``captions[i]`` (``w.. </s>``) describes region-store row ``image_rows[i]``.

    ``sidecars`` maps a CMCL sidecar kind to its :class:`~cmcl_sidecars.CaptionSidecar`; each
    sample draws at most ``limits[kind]`` items of each kind (deterministically per seed/epoch).
    """

    modality = "pair"

    def __init__(self, captions, image_rows, store, dictionary, mask_idx, seed, mask_prob, region_mask_prob,
                 overlap_threshold, seq2seq_prob, max_regions, max_caption_tokens, cmcl, sidecars, limits,
                 tagger=None):
        if len(captions) != len(image_rows):
            raise ValueError(f"{len(captions)} captions but {len(image_rows)} image rows")
        if len(image_rows) and (image_rows.min() < 0 or image_rows.max() >= len(store)):
            raise ValueError(f"image rows out of range for region store {store.path} with {len(store)} images")
        self.captions, self.image_rows, self.store = captions, image_rows, store
        self.dictionary, self.mask_idx, self.seed = dictionary, mask_idx, seed
        self.mask_prob, self.region_mask_prob, self.overlap_threshold = mask_prob, region_mask_prob, overlap_threshold
        self.seq2seq_prob, self.max_regions, self.max_caption_tokens = seq2seq_prob, max_regions, max_caption_tokens
        self.cmcl, self.sidecars, self.limits = cmcl, sidecars, limits
        self.tagger = tagger
        if tagger is not None:
            tagger.check_classes(store.num_classes, f"region store {store.path}")
        caption_sizes = np.minimum(np.asarray(captions.sizes), max_caption_tokens)
        self.sizes = caption_sizes + 2  # <s> and the decoder's start symbol
        cmcl_text_sizes = self.sizes.copy()
        if tagger is not None:
            self.sizes = self.sizes + tagger.max_tokens + 2  # <s> tags </s>
        regions = np.minimum(store.num_boxes[image_rows], max_regions) + 1
        self.batch_tokens, self.batch_regions = self.sizes.copy(), regions.copy()
        self.positions = self.sizes + regions  # of the joint pass
        if cmcl:  # single-modal passes: the caption, the image and each drawn sidecar item
            self.batch_tokens += cmcl_text_sizes
            self.batch_regions += regions
            for kind, sidecar in sidecars.items():
                drawn = np.minimum(np.diff(sidecar.offsets), limits[kind])
                if kind == cmcl_sidecars.IMAGE_KIND:
                    self.batch_regions += drawn * _largest_per_caption(
                        np.minimum(store.num_boxes[sidecar.items], max_regions) + 1, sidecar.offsets)
                else:
                    self.batch_tokens += drawn * cmcl_text_sizes

    def __len__(self):
        return len(self.captions)

    def __getitem__(self, index):
        rng = self.rng(index)
        bos, eos = self.dictionary.bos(), self.dictionary.eos()
        words = self.captions[index].long()[:-1][: self.max_caption_tokens - 1]  # drop </s>, truncate
        caption = torch.cat([words.new_tensor([bos]), words, words.new_tensor([eos])])
        regions = load_regions(self.store, int(self.image_rows[index]), self.max_regions)
        source = tag_source(self.tagger, regions["cls_probs"])  # the image alone, or the image and its object tags
        if rng.random() < self.seq2seq_prob:
            tokens, targets, target_mask = seq2seq_example(source, words, self.dictionary)
            sample = masked_region_sample(regions, rng, 0.0, 1.0)  # the image is the clean source
        else:
            tokens, targets = mask_tokens(caption, rng, self.dictionary, self.mask_idx, self.mask_prob)
            if len(source):  # <s> tags </s> w.. </s>: only caption words are masked
                tokens = torch.cat([source, tokens[1:]])
                targets = torch.cat([torch.full_like(source, self.dictionary.pad()), targets[1:]])
            target_mask = torch.zeros(len(tokens), dtype=torch.bool)
            sample = masked_region_sample(regions, rng, self.region_mask_prob, self.overlap_threshold)
        sample.update(id=index, tokens=tokens, lm_targets=targets, target_mask=target_mask)
        if self.cmcl:
            sample["cmcl"] = self._cmcl_items(index, rng, caption, regions)
        return sample

    def _cmcl_items(self, index, rng, caption, regions):
        items = {"caption": caption, "image": regions, "image_row": int(self.image_rows[index])}
        for kind, sidecar in self.sidecars.items():
            available = sidecar[index]
            keep = sorted(rng.choice(len(available), size=min(len(available), self.limits[kind]), replace=False)) \
                if available else []
            chosen = [available[i] for i in keep]
            if kind == cmcl_sidecars.IMAGE_KIND:
                items[kind] = [load_regions(self.store, row, self.max_regions) for row in chosen]
            else:
                bos = caption.new_tensor([self.dictionary.bos()])
                items[kind] = [torch.cat([bos, t[: self.max_caption_tokens]]) for t in chosen]
        return items

    def collater(self, samples):
        batch = {"id": torch.tensor([s["id"] for s in samples])}
        collate_text_part(samples, self.dictionary.pad(), batch)
        collate_region_part(samples, batch)
        if self.cmcl:
            batch["cmcl"] = collate_cmcl([s["cmcl"] for s in samples], self.dictionary.pad())
        return batch


def collate_cmcl(items, pad):
    """Batch the CMCL passes: every text (anchor captions first) and every image (anchor images
    first), and per anchor its candidate (image, text) pairs with a positive flag.

    The anchor pair itself and in-batch negatives are not listed: the loss adds them from the
    anchors' similarity matrix (across workers when distributed).
    """
    texts = [it["caption"] for it in items]
    images = [it["image"] for it in items]
    candidates = []
    for a, it in enumerate(items):
        pairs = []
        for kind, positive in (("paraphrases", True), ("texts", True), ("negatives", False)):
            for tokens in it.get(kind, []):
                pairs.append((a, len(texts), positive))
                texts.append(tokens)
        for regions in it.get("images", []):
            pairs.append((len(images), a, True))
            images.append(regions)
        candidates.append(pairs)
    width = max(1, max(len(p) for p in candidates))
    cand = torch.zeros(len(items), width, 4, dtype=torch.long)  # image, text, positive, valid
    for a, pairs in enumerate(candidates):
        for m, (image, text, positive) in enumerate(pairs):
            cand[a, m] = torch.tensor([image, text, int(positive), 1])
    regions = collate_regions(images)
    return {
        "texts": data_utils.collate_tokens(texts, pad),
        "regions": regions["features"],
        "boxes": regions["boxes"],
        "region_padding_mask": regions["padding_mask"],
        "candidate_image": cand[..., 0],
        "candidate_text": cand[..., 1],
        "candidate_positive": cand[..., 2].bool(),
        "candidate_valid": cand[..., 3].bool(),
        "image_rows": torch.tensor([it["image_row"] for it in items]),
    }
