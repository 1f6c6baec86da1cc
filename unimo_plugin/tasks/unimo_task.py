"""What every UNIMO task shares: the dictionary (``DATA/dict.txt`` plus ``<mask>``, as in
pretraining, so checkpoints move between tasks), model building that initialises only once, and
keeping CMCL's learned temperature inside its bounds after every update."""
import contextlib
import logging
import os

from fairseq.data import Dictionary
from fairseq.tasks import FairseqTask
from omegaconf import OmegaConf, open_dict

logger = logging.getLogger(__name__)


class UnimoTask(FairseqTask):
    def __init__(self, cfg, dictionary):
        super().__init__(cfg)
        self.dictionary = dictionary
        self.mask_idx = dictionary.index("<mask>")

    @classmethod
    def setup_task(cls, cfg, **kwargs):
        path = os.path.join(cfg.data.split(os.pathsep)[0], "dict.txt")
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path}: UNIMO tasks need the dictionary in DATA/dict.txt")
        dictionary = Dictionary.load(path)
        dictionary.add_symbol("<mask>")
        logger.info("dictionary: %d types", len(dictionary))
        return cls(cfg, dictionary)

    @property
    def source_dictionary(self):
        return self.dictionary

    @property
    def target_dictionary(self):
        return self.dictionary

    def classification_heads(self):
        """{name: head module} that the model registers before ``--pretrained`` loads; none here."""
        return {}

    def build_model(self, cfg, from_checkpoint=False):
        """A model restored from a checkpoint gets its weights from it: the initialisation
        options it was trained with (RoBERTa, --pretrained) are not read again."""
        if from_checkpoint:
            with open_dict(cfg) if OmegaConf.is_config(cfg) else contextlib.nullcontext():
                cfg.init_from_roberta = None
                cfg.pretrained = None
        return super().build_model(cfg, from_checkpoint)


    def optimizer_step(self, optimizer, model, update_num):
        super().optimizer_step(optimizer, model, update_num)
        model.cmcl_temperature.clamp_()
