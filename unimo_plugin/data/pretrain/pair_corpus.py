"""Image-text pair pretraining samples: masked LM or masked regions, each conditioned on the whole
other modality, or image -> caption seq2seq LM; plus the CMCL anchors and sidecar items of each pair."""
from typing import Any, Dict, List, Mapping, Optional

import numpy as np
import torch
from fairseq.data import Dictionary, FairseqDataset, data_utils

from ...formats import cmcl_sidecars
from ...formats.region_store import RegionStore
from ..cmcl_batch import CmclBatch
from ..collate import collate_region_part, collate_regions, collate_text_part
from ..object_tags import ObjectTagger, segment_positions, tag_source
from ..region_inputs import load_regions
from ..region_masking import masked_region_sample
from ..token_masking import mask_tokens, seq2seq_example
from .corpus import Objectives, PretrainCorpus

CMCL_LIMIT_KEYS = {"paraphrases": "cmcl_paraphrases", "negatives": "cmcl_negatives",
                   "texts": "cmcl_retrieved_texts", "images": "cmcl_retrieved_images"}


def _largest_sums(values, offsets, k):
    """Per caption i, the sum of the ``k`` largest of ``values[offsets[i]:offsets[i+1]]`` (0 if none):
    what the ``k`` items it draws can cost at most."""
    offsets = np.asarray(offsets, dtype=np.int64)
    counts = np.diff(offsets)
    owner = np.repeat(np.arange(len(counts)), counts)
    order = np.lexsort((-np.asarray(values), owner))  # caption by caption, largest first
    rank = np.arange(len(owner)) - np.repeat(offsets[:-1], counts)
    keep = order[rank < k]
    return np.bincount(owner[keep], weights=np.asarray(values)[keep], minlength=len(counts)).astype(np.int64)


class PairCorpusDataset(PretrainCorpus):
    """``captions[i]`` (``w.. </s>``) describes region-store row ``image_rows[i]``; captions are cut
    to ``max_caption_tokens`` and images to their first ``max_regions`` regions.

    With ``cmcl``, each sample also holds its CMCL items: ``sidecars`` maps a CMCL sidecar kind to its
    :class:`~cmcl_sidecars.CaptionSidecar`, of which each sample draws at most ``limits[kind]`` items
    (deterministically per seed/epoch). ``tagger`` puts the image's object tags before the caption as a
    segment of their own (``<s> tags </s>``, positions from 2; the caption's restart at 2), as the release
    lays out its captioning input.
    """

    modality = "pair"

    def __init__(self, *, captions: FairseqDataset, image_rows: np.ndarray, store: RegionStore,
                 dictionary: Dictionary, mask_idx: int, objectives: Objectives, max_regions: int,
                 max_caption_tokens: int, cmcl: bool, sidecars: Mapping[str, cmcl_sidecars.CaptionSidecar],
                 limits: Mapping[str, int], tagger: Optional[ObjectTagger] = None):
        if len(captions) != len(image_rows):
            raise ValueError(f"{len(captions)} captions but {len(image_rows)} image rows")
        if len(image_rows) and (image_rows.min() < 0 or image_rows.max() >= len(store)):
            raise ValueError(f"image rows out of range for region store {store.path} with {len(store)} images")
        self.captions, self.image_rows, self.store = captions, image_rows, store
        self.dictionary, self.mask_idx, self.objectives = dictionary, mask_idx, objectives
        self.max_regions, self.max_caption_tokens = max_regions, max_caption_tokens
        self.cmcl, self.sidecars, self.limits = cmcl, sidecars, limits
        self.tagger = tagger
        self.batch_by_length = not cmcl  # CMCL's in-batch negatives must not share their anchor's length
        if tagger is not None:
            tagger.check_classes(store.num_classes, f"region store {store.path}")
        text_size = lambda sizes: np.minimum(np.asarray(sizes), max_caption_tokens) + 1  # noqa: E731  <s> w.. </s>
        image_size = lambda rows: np.minimum(store.num_boxes[rows], max_regions) + 1  # noqa: E731  [IMG] r..
        self.sizes = text_size(captions.sizes) + 1  # + the decoder's start symbol of a seq2seq sample
        if tagger is not None:
            self.sizes = self.sizes + tagger.max_tokens + 2  # <s> tags </s>
        regions = image_size(image_rows)
        self.positions = self.sizes + regions  # of the joint pass
        if cmcl:  # single-modal passes, packed: the caption, the image and each drawn sidecar item
            self.packed_tokens, self.packed_regions = text_size(captions.sizes), regions.copy()
            for kind, sidecar in sidecars.items():
                if kind == cmcl_sidecars.IMAGE_KIND:
                    self.packed_regions += _largest_sums(image_size(sidecar.items), sidecar.offsets, limits[kind])
                else:
                    self.packed_tokens += _largest_sums(text_size(sidecar.items.sizes), sidecar.offsets, limits[kind])
        self.batch_tokens = self.sizes + (0 if self.packed_tokens is None else self.packed_tokens)
        self.batch_regions = regions + (0 if self.packed_regions is None else self.packed_regions)

    def __len__(self) -> int:
        return len(self.captions)

    def build(self, index: int, rng: np.random.Generator) -> Dict[str, Any]:
        caption = self._text_item(self.captions[index])
        words = caption[1:-1]
        regions = load_regions(self.store, int(self.image_rows[index]), self.max_regions)
        source = tag_source(self.tagger, regions["cls_probs"])  # the image alone, or the image and its object tags
        if rng.random() < self.objectives.seq2seq_prob:
            tokens, targets, target_mask = seq2seq_example(source, words, self.dictionary)
            sample = masked_region_sample(regions, rng, 0.0, 1.0)  # the image is the clean source
        else:
            tokens, targets, sample = self._masked_modality(caption, regions, rng)
            if len(source):  # <s> tags </s> <s> w.. </s>: only caption words are masked
                tokens = torch.cat([source, tokens])
                targets = torch.cat([torch.full_like(source, self.dictionary.pad()), targets])
            target_mask = torch.zeros(len(tokens), dtype=torch.bool)
        sample.update(id=index, tokens=tokens, lm_targets=targets, target_mask=target_mask)
        if len(source):  # the tags are a segment of their own: the caption's positions restart after them
            sample["text_positions"] = segment_positions(len(source), len(tokens) - len(source),
                                                         self.dictionary.pad())
        if self.cmcl:
            sample["cmcl"] = self._cmcl_items(index, rng, caption, regions)
        return sample

    def _masked_modality(self, caption, regions, rng):
        """Mask the words or the regions, never both: each is predicted from the whole other modality
        (UNITER's conditional masking), with equal chance while both objectives are on."""
        objectives = self.objectives
        mask_words = objectives.region_mask_prob == 0 or (objectives.mask_prob > 0 and rng.random() < 0.5)
        if mask_words:
            tokens, targets = mask_tokens(caption, rng, self.dictionary, self.mask_idx, objectives.mask_prob)
            return tokens, targets, masked_region_sample(regions, rng, 0.0, 1.0)
        targets = torch.full_like(caption, self.dictionary.pad())
        return caption, targets, masked_region_sample(regions, rng, objectives.region_mask_prob,
                                                      objectives.region_overlap_threshold)

    def _text_item(self, tokens):
        """``<s> w.. </s>`` from stored ``w.. </s>``, cut to ``max_caption_tokens`` words + ``</s>``: captions
        and sidecar texts alike, so that a cut never tells a negative from its anchor."""
        words = tokens.long()[:-1][: self.max_caption_tokens - 1]
        return torch.cat([words.new_tensor([self.dictionary.bos()]), words, words.new_tensor([self.dictionary.eos()])])

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
                items[kind] = [self._text_item(t) for t in chosen]
        return items

    def collater(self, samples: List[Dict[str, Any]]) -> Dict[str, Any]:
        batch = {"id": torch.tensor([s["id"] for s in samples])}
        collate_text_part(samples, self.dictionary.pad(), batch)
        collate_region_part(samples, batch)
        if self.cmcl:
            batch["cmcl"] = collate_cmcl([s["cmcl"] for s in samples], self.dictionary.pad())
        return batch


def collate_cmcl(items: List[Dict[str, Any]], pad: int) -> CmclBatch:
    """The CMCL batch of ``_cmcl_items``' items: every text (anchor captions first) and every image
    (anchor images first), and per anchor its candidate (image, text) pairs with a positive flag.

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
    return CmclBatch(
        texts=data_utils.collate_tokens(texts, pad), regions=regions["features"], boxes=regions["boxes"],
        region_padding_mask=regions["padding_mask"], candidate_image=cand[..., 0], candidate_text=cand[..., 1],
        candidate_positive=cand[..., 2].bool(), candidate_valid=cand[..., 3].bool(),
        image_rows=torch.tensor([it["image_row"] for it in items]))
