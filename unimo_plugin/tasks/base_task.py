"""What every UNIMO task shares: the dictionary (``DATA/dict.txt`` plus ``<mask>``, as in
pretraining, so checkpoints move between tasks), the BPE of its text (``--bpe-record``), the object
tagger, model building that initialises only once, and keeping CMCL's learned temperature inside its
bounds after every update."""
import contextlib
import logging
import os
from argparse import Namespace
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from fairseq.data import Dictionary
from fairseq.data.indexed_dataset import data_file_path
from fairseq.dataclass import FairseqDataclass
from fairseq.tasks import FairseqTask
from omegaconf import OmegaConf, open_dict
from torch import nn

from ..common.artifacts import data_outputs
from ..data.object_tags import ObjectTagger
from ..formats.bpe import build_recorded_bpe, recorded_bpe
from ..models.unimo import UnimoConfig, UnimoModel

logger = logging.getLogger(__name__)


@dataclass
class UnimoTaskConfig(FairseqDataclass):
    bpe_record: Optional[str] = field(
        default=None, metadata={"help": "the BPE the text was binarized with: the JSON of a data manifest's 'bpe' "
                                        "entry, or 'none' for whitespace-separated dictionary symbols (default: "
                                        "what the data's manifests record). Saved in checkpoints, so the hub and "
                                        "fairseq-generate encode and decode text with it"})


def _writable(cfg):
    return open_dict(cfg) if OmegaConf.is_config(cfg) else contextlib.nullcontext()


def _saved_task_config(cfg):
    """The ``task`` section of the whole config that ``cfg`` was merged from, if any. fairseq's
    ``setup_task`` hands tasks a merged copy whose parent is the whole config (see
    ``fairseq.dataclass.utils.merge_with_parent``); fairseq-train saves that config's ``task``."""
    parent = cfg._get_parent() if OmegaConf.is_config(cfg) else None
    task = parent.get("task") if OmegaConf.is_dict(parent) else None
    return task if OmegaConf.is_dict(task) and task is not cfg else None


class UnimoTask(FairseqTask):
    def __init__(self, cfg: UnimoTaskConfig, dictionary: Dictionary):
        super().__init__(cfg)
        self.dictionary = dictionary
        self.mask_idx = dictionary.index("<mask>")

    @classmethod
    def setup_task(cls, cfg: UnimoTaskConfig, **kwargs) -> "UnimoTask":
        path = os.path.join(cfg.data.split(os.pathsep)[0], "dict.txt")
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path}: UNIMO tasks need the dictionary in DATA/dict.txt")
        dictionary = Dictionary.load(path)
        dictionary.add_symbol("<mask>")
        logger.info("dictionary: %d types", len(dictionary))
        task = cls(cfg, dictionary)
        task.record_bpe()
        return task

    def data_dirs(self) -> List[str]:
        """Directories of the binarized text this task reads (their manifests record its BPE)."""
        raise NotImplementedError

    def record_bpe(self):
        """Fill ``--bpe-record`` from the data's manifests when neither the user nor the checkpoint gave it,
        also in the config fairseq-train saves: every checkpoint then knows its BPE, wherever it is loaded."""
        if self.cfg.bpe_record is not None:
            return
        outputs = [output for directory in self.data_dirs() for output in data_outputs(directory)]
        if getattr(self.cfg, "object_tags", None):
            outputs.append(data_file_path(self.cfg.object_tags))
        record = recorded_bpe(outputs)
        if record is None:
            logger.warning("the data's manifests record no BPE: the model cannot read or write text until "
                           "--bpe-record or BPE options are given")
            return
        logger.info(f"BPE recorded in the data's manifests: {record}")
        for cfg in (self.cfg, _saved_task_config(self.cfg)):
            if cfg is not None:
                with _writable(cfg):
                    cfg.bpe_record = record

    def build_bpe(self, args: Namespace) -> Optional[Any]:
        """Explicit BPE options (fairseq's ``--bpe``, the hub's ``bpe=...``) win; else ``--bpe-record``'s."""
        bpe = super().build_bpe(args)
        return bpe if bpe is not None else build_recorded_bpe(self.cfg.bpe_record)

    def object_tagger(self) -> Optional[ObjectTagger]:
        """The ``--object-tags`` tagger (None without the option): the datasets and the hub build the
        text before a caption with it."""
        if getattr(self.cfg, "object_tags", None) is None:
            return None
        return ObjectTagger(self.cfg.object_tags, self.dictionary, self.cfg.object_tag_threshold,
                            self.cfg.max_object_tags)

    @property
    def source_dictionary(self) -> Dictionary:
        return self.dictionary

    @property
    def target_dictionary(self) -> Dictionary:
        return self.dictionary

    def classification_heads(self, model_cfg: UnimoConfig) -> Dict[str, nn.Module]:
        """{name: head module} for the model ``model_cfg`` describes (a head's width follows the
        model's), which the model registers before ``--pretrained`` loads; none here."""
        return {}

    def build_model(self, cfg: UnimoConfig, from_checkpoint: bool = False) -> UnimoModel:
        """A model restored from a checkpoint gets its weights from it: the initialisation
        options it was trained with (RoBERTa, --pretrained) are not read again."""
        if from_checkpoint:
            with _writable(cfg):
                cfg.init_from_roberta = None
                cfg.pretrained = None
        return super().build_model(cfg, from_checkpoint)

    def optimizer_step(self, optimizer, model: UnimoModel, update_num: int):
        super().optimizer_step(optimizer, model, update_num)
        model.cmcl_temperature.clamp_()
