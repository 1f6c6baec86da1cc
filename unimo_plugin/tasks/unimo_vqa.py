"""``unimo_vqa``: VQA v2 as multi-label classification over a vocabulary of frequent answers, with
soft targets (``--criterion unimo_soft_bce``), from ``data_scripts/prepare_vqa.py`` output."""
from dataclasses import dataclass, field

from fairseq.tasks import register_task

from ..models.heads import PairClassificationHead
from .labeled_task import LabeledTask, LabeledTaskConfig


@dataclass
class UnimoVqaConfig(LabeledTaskConfig):
    classification_head_name: str = field(
        default="vqa", metadata={"help": "name of the task head in the model and checkpoints"})


@register_task("unimo_vqa", dataclass=UnimoVqaConfig)
class UnimoVqaTask(LabeledTask):
    TASKS = ("vqa",)
    IMAGES = True

    def make_head(self, embed_dim: int) -> PairClassificationHead:
        return PairClassificationHead(embed_dim, embed_dim * 2, self.num_outputs, "gelu", self.cfg.head_dropout)
