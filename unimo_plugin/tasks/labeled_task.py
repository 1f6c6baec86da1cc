"""What the fine-tuning tasks on labeled sets share: reading a ``prepare_*.py`` output directory
(see ``unimo_plugin/formats/labeled_sets.py``) into :class:`LabeledDataset` splits, and registering
the task's head before ``--pretrained`` initialises the rest of the model."""
import logging
import os
from dataclasses import dataclass, field
from typing import Dict, List, Optional

from fairseq.data import data_utils
from fairseq.dataclass import ChoiceEnum
from omegaconf import II
from torch import nn

from ..data.finetune.labeled_dataset import PAIR_FORMATS, ClassTargets, LabeledDataset, SoftTargets
from ..formats.labeled_sets import read_labeled_manifest, read_labeled_split, read_labels
from ..formats.region_store import open_region_store_of
from ..models.unimo import UnimoConfig, UnimoModel
from .adversarial import AdversarialConfig, AdversarialTask

logger = logging.getLogger(__name__)


@dataclass
class LabeledTaskConfig(AdversarialConfig):
    data: str = field(default="", metadata={"help": "output directory of a data_scripts/prepare_*.py script "
                                                    "(dict.txt, labels.txt, per-split inputs and targets)"})
    region_store: Optional[str] = field(
        default=None, metadata={"help": "region store of the images (default: the one named in the data manifest)"})
    max_regions: int = field(default=100, metadata={"help": "regions kept per image (stores keep detector order)"})
    max_text_positions: int = field(default=512, metadata={"help": "texts are cut to this many tokens"})
    classification_head_name: str = field(
        default="classification_head", metadata={"help": "name of the task head in the model and checkpoints"})
    head_dropout: float = field(default=0.1, metadata={"help": "dropout of the task head"})
    pair_format: ChoiceEnum(PAIR_FORMATS) = field(
        default="release", metadata={"help": "text pairs as <s> a </s> b </s> (release: the official UNIMO "
                                             "release's [CLS] a [SEP] b [SEP], longer text cut first) or "
                                             "<s> a </s></s> b </s> (roberta: cut at the end)"})
    seed: int = II("common.seed")


class LabeledTask(AdversarialTask):
    """Subclasses name the manifest ``TASKS`` they read, whether items have ``IMAGES``, and ``make_head``."""

    TASKS = ()
    IMAGES = False

    def __init__(self, cfg: LabeledTaskConfig, dictionary):
        super().__init__(cfg, dictionary)
        self.data_dir = os.path.normpath(cfg.data.split(os.pathsep)[0])
        self.manifest = read_labeled_manifest(self.data_dir)
        if self.manifest["task"] not in self.TASKS:
            raise ValueError(f"{self.data_dir} holds {self.manifest['task']!r} data; this task reads "
                             f"{', '.join(self.TASKS)}")
        self.target_kind = self.manifest["target_kind"]
        self.labels = read_labels(self.data_dir)
        self.num_outputs = 1 if self.target_kind == "regression" else len(self.labels)
        self.store = None
        if self.IMAGES:
            self.store = open_region_store_of(self.data_dir, cfg.region_store, "--region-store")

    def data_dirs(self) -> List[str]:
        return [self.data_dir]

    def make_head(self, embed_dim: int) -> nn.Module:
        """The task's head over pooled states of width ``embed_dim``."""
        raise NotImplementedError

    def classification_heads(self, model_cfg: UnimoConfig) -> Dict[str, nn.Module]:
        return {self.cfg.classification_head_name: self.make_head(model_cfg.encoder_embed_dim)}

    def build_model(self, cfg: UnimoConfig, from_checkpoint: bool = False) -> UnimoModel:
        if self.store is not None and cfg.region_feature_dim != self.store.feature_dim:
            raise ValueError(f"--region-feature-dim {cfg.region_feature_dim} but region store {self.store.path} "
                             f"has {self.store.feature_dim}-d features")
        return super().build_model(cfg, from_checkpoint)

    def load_dataset(self, split: str, epoch: int = 1, combine: bool = False, **kwargs):
        prefix = os.path.join(self.data_dir, split)
        files = read_labeled_split(self.data_dir, split, self.IMAGES)
        inputs = [data_utils.load_indexed_dataset(p, self.dictionary, combine=False) for p in files.inputs]
        targets = None
        if files.labels is not None:
            targets = ClassTargets(files.labels)
        elif files.soft_targets is not None:
            targets = SoftTargets(*files.soft_targets, self.num_outputs)
        image_rows = files.image_rows
        self.datasets[split] = LabeledDataset(
            inputs=inputs, dictionary=self.dictionary, targets=targets, store=self.store, image_rows=image_rows,
            max_regions=self.cfg.max_regions, max_positions=self.cfg.max_text_positions, shuffle=True,
            seed=self.cfg.seed, pair_format=self.cfg.pair_format)
        logger.info("%s: %d items%s", prefix, len(inputs[0]), "" if targets is not None else " (unlabeled)")

    def max_positions(self) -> int:
        return self.cfg.max_text_positions
