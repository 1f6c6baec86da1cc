"""``unimo_snli_ve``: visual entailment (image premise, text hypothesis) as 3-way classification of
the fused pooled text and image (``--criterion unimo_classification``), from
``data_scripts/prepare_snli_ve.py`` output."""
from dataclasses import dataclass, field

from fairseq.tasks import register_task

from ..models.heads import PairClassificationHead
from .labeled_task import LabeledTask, LabeledTaskConfig


@dataclass
class UnimoSnliVeConfig(LabeledTaskConfig):
    classification_head_name: str = field(
        default="snli_ve", metadata={"help": "name of the task head in the model and checkpoints"})


@register_task("unimo_snli_ve", dataclass=UnimoSnliVeConfig)
class UnimoSnliVeTask(LabeledTask):
    TASKS = ("snli_ve",)
    IMAGES = True

    def make_head(self, embed_dim: int) -> PairClassificationHead:
        return PairClassificationHead(embed_dim, embed_dim, self.num_outputs, "tanh", self.cfg.head_dropout)
