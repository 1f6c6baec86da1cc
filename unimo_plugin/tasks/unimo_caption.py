"""Image captioning: fine-tune on caption pairs, generate with ``fairseq-generate``.

Reads the pairs a pretraining DATA dir holds (``DATA/dict.txt``, ``DATA/pairs/{split}.*`` written by
``binarize_captions.py``, and the region store their manifest names)::

    fairseq-train DATA --user-dir unimo_plugin --task unimo_caption --arch unimo_base \\
        --pretrained pretrain/checkpoint_best.pt --criterion label_smoothed_cross_entropy \\
        --label-smoothing 0.1 ...
    fairseq-generate DATA --user-dir unimo_plugin --task unimo_caption --path ckpt/checkpoint_best.pt \\
        --gen-subset test --beam 5 --lenpen 1 --min-len 5 --max-len-b 50
"""
import logging
import os
from dataclasses import dataclass, field
from typing import List, Optional

import numpy as np
import torch
from fairseq.data import data_utils
from fairseq.tasks import register_task

from ..data.finetune.caption_generation import CaptionGenerationDataset
from ..formats.caption_sets import read_caption_images
from ..formats.region_store import open_region_store_of, read_rows
from .generation_task import GenerationEvalConfig, UnimoGenerationTask

logger = logging.getLogger(__name__)


@dataclass
class UnimoCaptionConfig(GenerationEvalConfig):
    data: str = field(default="", metadata={"help": "DATA dir: dict.txt and pairs/ (binarize_captions.py)"})
    pair_data: Optional[str] = field(default=None, metadata={"help": "caption pairs dir (default DATA/pairs)"})
    pair_region_store: Optional[str] = field(
        default=None, metadata={"help": "region store of the pairs (default: the one their manifest names)"})
    train_splits: str = field(
        default="train", metadata={"help": "comma-separated splits read as one sample per caption; every "
                                           "other split gives one sample per image with all its references"})
    max_regions_per_image: int = field(default=100, metadata={"help": "regions kept per image"})
    max_target_positions: int = field(default=50, metadata={"help": "captions are cut to this many tokens"})
    object_tags: Optional[str] = field(
        default=None, metadata={"help": "detector object tags as source text before the caption: prefix of a "
                                        "binarized dataset with one class name per detector class"})
    object_tag_threshold: float = field(default=0.2, metadata={"help": "tag confidence threshold"})
    max_object_tags: int = field(default=10, metadata={"help": "tags per image, most confident first"})


@register_task("unimo_caption", dataclass=UnimoCaptionConfig)
class UnimoCaptionTask(UnimoGenerationTask):
    cfg: UnimoCaptionConfig

    def _pairs_dir(self):
        return self.cfg.pair_data or os.path.join(self.cfg.data, "pairs")

    def data_dirs(self) -> List[str]:
        return [self._pairs_dir()]

    def load_dataset(self, split: str, epoch: int = 1, combine: bool = False,
                     **kwargs) -> CaptionGenerationDataset:
        prefix = os.path.join(self._pairs_dir(), split)
        captions = data_utils.load_indexed_dataset(prefix, self.dictionary, combine=False)
        if captions is None:
            raise FileNotFoundError(f"{prefix}.bin/.idx: no caption split {split!r} (binarize_captions.py)")
        store = open_region_store_of(self._pairs_dir(), self.cfg.pair_region_store, "--pair-region-store")
        tagger = self.object_tagger()
        if tagger is not None:
            tagger.check_classes(store.num_classes, f"region store {store.path}")
        if split in self.cfg.train_splits.split(","):
            rows = read_rows(prefix, len(captions), mmap_mode="r")
            samples = dict(caption_index=np.arange(len(captions)), image_rows=rows)  # one per caption
        else:  # one per image, with all its references
            images = read_caption_images(prefix)
            samples = dict(caption_index=images.first_caption, image_rows=images.rows, references=images.references,
                           shuffle=False)
        dataset = CaptionGenerationDataset(captions=captions, store=store, dictionary=self.dictionary,
                                           max_regions=self.cfg.max_regions_per_image,
                                           max_target_tokens=self.cfg.max_target_positions, tagger=tagger,
                                           decoder_start=self.decoder_start, **samples)
        logger.info(f"{split}: {len(dataset)} samples ({len(captions)} captions)")
        self.datasets[split] = dataset
        return dataset

    def adversarial_text_mask(self, sample) -> torch.Tensor:
        """The caption's tokens: the release perturbs the caption's embeddings, not the object tags'."""
        source, target = sample["net_input"]["src_tokens"], sample["net_input"]["prev_output_tokens"]
        return torch.cat([torch.zeros_like(source, dtype=torch.bool), target.ne(self.dictionary.pad())], dim=1)

    def max_positions(self) -> None:
        return None  # captions are cut to --max-target-positions; the model checks its own limit
