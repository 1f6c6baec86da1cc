"""``unimo_retrieval``: image-text retrieval fine-tuning of a cross-encoder.

Reads the caption splits of ``binarize_captions.py`` (Flickr30k / COCO Karpathy JSON)::

    DATA/dict.txt
    DATA/pairs/{split}.bin,.idx, {split}.image_rows.npy   caption tokens and their images' store rows
    DATA/pairs/{train}.retrieval_negatives/               with --hard-negatives (mine_retrieval_negatives.py)

Each caption is a group of the positive, ``--num-wrong-images`` and ``--num-wrong-captions`` pairs scored
by the cross-encoder (:mod:`unimo_plugin.models.cross_encoder`), trained with the release's circle loss
or a softmax over the group (criterion ``unimo_retrieval``). Evaluate with ``unimo-eval-cross-retrieval``.
"""
import logging
import os
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import numpy as np
from fairseq.data import FairseqDataset, data_utils
from fairseq.dataclass import ChoiceEnum
from fairseq.tasks import register_task
from omegaconf import II
from torch import nn

from ..data.finetune.retrieval_pairs import RetrievalPairsDataset
from ..formats.mined_negatives import MinedNegatives, mined_negatives_path
from ..formats.region_store import RegionStore, open_region_store_of, read_rows
from ..models.cross_encoder import HEAD_NAME, retrieval_head
from ..models.unimo import UnimoConfig
from .adversarial import AdversarialConfig, AdversarialTask

logger = logging.getLogger(__name__)


@dataclass
class UnimoRetrievalConfig(AdversarialConfig):
    data: str = field(default="", metadata={"help": "directory with dict.txt and (by default) the caption "
                                                    "dataset pairs/"})
    pair_data: Optional[str] = field(default=None, metadata={"help": "caption dataset dir (default DATA/pairs)"})
    pair_region_store: Optional[str] = field(
        default=None, metadata={"help": "region store of the images (default: the one the caption manifest names)"})
    num_wrong_images: int = field(
        default=10, metadata={"help": "pairs of the caption with another image per group (the official release's 10)"})
    num_wrong_captions: int = field(
        default=10, metadata={"help": "pairs of the image with another image's caption per group (the release's 10)"})
    hard_negatives: bool = field(
        default=False, metadata={"help": "draw the training split's negatives from its mined hard negatives "
                                         "(PAIRS/SPLIT.retrieval_negatives, see --hard-negatives-path) instead "
                                         "of at random; validation always uses random ones"})
    hard_negatives_path: Optional[str] = field(
        default=None, metadata={"help": "mined negatives of the training split (default "
                                        "PAIRS/TRAIN_SUBSET.retrieval_negatives)"})
    max_regions_per_image: int = field(default=100, metadata={"help": "regions kept per image"})
    max_caption_tokens: int = field(default=64, metadata={"help": "captions are cut to this"})
    head_dropout: float = field(default=0.1, metadata={"help": "dropout of the retrieval score head"})
    head: ChoiceEnum(["release", "roberta"]) = field(
        default="release", metadata={"help": "release: one projection of dropout(pooled text x pooled image), the "
                                             "official UNIMO release's match_fc; roberta: RoBERTa's dense + tanh + "
                                             "projection of their product"})
    train_subset: str = II("dataset.train_subset")
    seed: int = II("common.seed")


@register_task("unimo_retrieval", dataclass=UnimoRetrievalConfig)
class UnimoRetrievalTask(AdversarialTask):
    cfg: UnimoRetrievalConfig

    @property
    def pair_dir(self) -> str:
        return self.cfg.pair_data or os.path.join(self.cfg.data, "pairs")

    def data_dirs(self) -> List[str]:
        return [self.pair_dir]

    def classification_heads(self, model_cfg: UnimoConfig) -> Dict[str, nn.Module]:
        return {HEAD_NAME: retrieval_head(model_cfg.encoder_embed_dim, self.cfg.head_dropout, self.cfg.head)}

    def region_store(self) -> RegionStore:
        return open_region_store_of(self.pair_dir, self.cfg.pair_region_store, "--pair-region-store")

    def load_split(self, split: str) -> Tuple[FairseqDataset, np.ndarray]:
        """(caption token dataset, image rows) of a caption split."""
        prefix = os.path.join(self.pair_dir, split)
        captions = data_utils.load_indexed_dataset(prefix, self.dictionary, combine=False)
        if captions is None:
            raise FileNotFoundError(f"{prefix}.bin: no caption split {split!r} in {self.pair_dir}")
        return captions, read_rows(prefix, len(captions))

    def load_dataset(self, split: str, epoch: int = 1, combine: bool = False, **kwargs):
        captions, image_rows = self.load_split(split)
        store = self.region_store()
        training = split == self.cfg.train_subset
        mined = None
        if training and self.cfg.hard_negatives:
            mined = MinedNegatives(self.cfg.hard_negatives_path or mined_negatives_path(self.pair_dir, split),
                                   image_rows, store)
        self.datasets[split] = RetrievalPairsDataset(
            captions=captions, image_rows=image_rows, store=store, dictionary=self.dictionary,
            num_wrong_images=self.cfg.num_wrong_images, num_wrong_captions=self.cfg.num_wrong_captions,
            seed=self.cfg.seed, max_regions=self.cfg.max_regions_per_image,
            max_caption_tokens=self.cfg.max_caption_tokens, hard_negatives=mined, shuffle=training)
        logger.info("%s: %d captions of %d images, %s negatives", split, len(captions), len(np.unique(image_rows)),
                    "mined" if mined is not None else "random")

    def max_positions(self) -> None:
        return None  # captions are cut to --max-caption-tokens; the model sets the limit
