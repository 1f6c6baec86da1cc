"""``unimo_snli_ve``: visual entailment (image premise, text hypothesis) as 3-way classification of
the fused pooled text and image (``--criterion unimo_classification``), from
``data_scripts/prepare_snli_ve.py`` output."""
from dataclasses import dataclass, field

from fairseq.dataclass import ChoiceEnum
from fairseq.tasks import register_task
from torch import nn

from ..models.heads import PairClassificationHead, SumFusionHead
from .labeled_task import LabeledTask, LabeledTaskConfig


@dataclass
class UnimoSnliVeConfig(LabeledTaskConfig):
    classification_head_name: str = field(
        default="snli_ve", metadata={"help": "name of the task head in the model and checkpoints"})
    head: ChoiceEnum(["release", "roberta"]) = field(
        default="release", metadata={"help": "release: pooled text + pooled image, a projection to --head-hidden-dim, dropout, the output projection (the official UNIMO release's); roberta: their element-wise product through RoBERTa's dense + tanh + projection"})
    head_hidden_dim: int = field(
        default=2048, metadata={"help": "width of the release head's hidden projection (2048 in the release)"})


@register_task("unimo_snli_ve", dataclass=UnimoSnliVeConfig)
class UnimoSnliVeTask(LabeledTask):
    TASKS = ("snli_ve",)
    IMAGES = True

    def make_head(self, embed_dim: int) -> nn.Module:
        if self.cfg.head == "release":
            return SumFusionHead(embed_dim, self.cfg.head_hidden_dim, self.num_outputs, self.cfg.head_dropout)
        return PairClassificationHead(embed_dim, embed_dim, self.num_outputs, "tanh", self.cfg.head_dropout)
