"""``unimo_sentence_prediction``: GLUE-style classification or regression of one sentence or a
sentence pair from the pooled ``<s>`` (``--criterion unimo_classification``), from
``data_scripts/prepare_glue.py`` output."""
from dataclasses import dataclass, field

from fairseq.dataclass import ChoiceEnum
from fairseq.tasks import register_task
from torch import nn

from ..formats.glue_tasks import GLUE_TASKS
from ..models.heads import ClassificationHead, PooledLinearHead
from .labeled_task import LabeledTask, LabeledTaskConfig


@dataclass
class UnimoSentencePredictionConfig(LabeledTaskConfig):
    classification_head_name: str = field(
        default="sentence_classification_head", metadata={"help": "name of the task head in the model and "
                                                                  "checkpoints"})
    head: ChoiceEnum(["release", "roberta"]) = field(
        default="release", metadata={"help": "release: dropout and one projection of the pooled <s> (the official UNIMO release's); roberta: RoBERTa's dense + tanh + projection"})


@register_task("unimo_sentence_prediction", dataclass=UnimoSentencePredictionConfig)
class UnimoSentencePredictionTask(LabeledTask):
    TASKS = tuple(GLUE_TASKS)

    def make_head(self, embed_dim: int) -> nn.Module:
        if self.cfg.head == "release":
            return PooledLinearHead(embed_dim, self.num_outputs, self.cfg.head_dropout)
        return ClassificationHead(embed_dim, embed_dim, self.num_outputs, "tanh", self.cfg.head_dropout)
