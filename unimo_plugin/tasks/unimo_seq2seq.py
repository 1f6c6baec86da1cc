"""Text-to-text generation (summarization, question generation) with the UniLM seq2seq mask.

Reads ``DATA/{split}.source`` / ``DATA/{split}.target`` (``binarize_seq2seq.py``). The source is
``<s> .. </s>`` and the target follows it in the same text positions, so source plus target must fit
the model's ``--max-positions``::

    fairseq-train DATA --user-dir unimo_plugin --task unimo_seq2seq --arch unimo_base \\
        --pretrained pretrain/checkpoint_best.pt --criterion label_smoothed_cross_entropy ...
    fairseq-generate DATA --user-dir unimo_plugin --task unimo_seq2seq --path ckpt/checkpoint_best.pt \\
        --beam 5 --lenpen 1.0 --max-len-b 140 --no-repeat-ngram-size 3
    fairseq-interactive DATA --user-dir unimo_plugin --task unimo_seq2seq --path ckpt/checkpoint_best.pt
"""
import logging
import os
from dataclasses import dataclass, field
from typing import List, Optional, Sequence

import torch
from fairseq.data import (
    AppendTokenDataset,
    PrependTokenDataset,
    StripTokenDataset,
    TruncateDataset,
    data_utils,
)
from fairseq.dataclass import ChoiceEnum
from fairseq.tasks import register_task

from ..data.finetune.seq2seq_pairs import Seq2seqPairDataset
from ..models.unimo import UnimoConfig, UnimoModel
from .generation_task import GenerationEvalConfig, UnimoGenerationTask

logger = logging.getLogger(__name__)


@dataclass
class UnimoSeq2seqConfig(GenerationEvalConfig):
    data: str = field(default="", metadata={"help": "DATA dir written by binarize_seq2seq.py"})
    max_source_positions: int = field(
        default=400, metadata={"help": "sources are cut to this many tokens (with <s> and </s>)"})
    max_target_positions: int = field(
        default=110, metadata={"help": "targets are cut to this many tokens (with their end symbol)"})
    target_end: ChoiceEnum(["mask", "eos"]) = field(
        default="mask", metadata={"help": "the symbol a target ends with, and generation stops at: <mask> ([MASK], "
                                          "the official release's seq2seq reader) or </s>"})


@register_task("unimo_seq2seq", dataclass=UnimoSeq2seqConfig)
class UnimoSeq2seqTask(UnimoGenerationTask):
    cfg: UnimoSeq2seqConfig

    def data_dirs(self) -> List[str]:
        return [os.path.normpath(self.cfg.data)]

    @property
    def target_end(self) -> int:
        return self.mask_idx if self.cfg.target_end == "mask" else self.dictionary.eos()

    def _truncated(self, dataset, length, bos, end):
        """Cut to ``length`` tokens ending in ``end`` instead of the binarized ``</s>`` (and beginning with
        ``<s>`` when ``bos``)."""
        dataset = TruncateDataset(StripTokenDataset(dataset, self.dictionary.eos()), length - 1 - bos)
        dataset = AppendTokenDataset(dataset, end)
        return PrependTokenDataset(dataset, self.dictionary.bos()) if bos else dataset

    def _pair_dataset(self, source, target, shuffle):
        source = self._truncated(source, self.cfg.max_source_positions, bos=True, end=self.dictionary.eos())
        if target is not None:
            target = self._truncated(target, self.cfg.max_target_positions, bos=False, end=self.target_end)
        return Seq2seqPairDataset(source, source.sizes, self.dictionary, target,
                                  None if target is None else target.sizes, self.dictionary, shuffle=shuffle,
                                  eos=self.target_end, decoder_start=self.decoder_start)

    def load_dataset(self, split: str, epoch: int = 1, combine: bool = False, **kwargs) -> Seq2seqPairDataset:
        sides = []
        for side in ("source", "target"):
            prefix = os.path.join(self.cfg.data, f"{split}.{side}")
            dataset = data_utils.load_indexed_dataset(prefix, self.dictionary, combine=False)
            if dataset is None:
                raise FileNotFoundError(f"{prefix}.bin/.idx: no {side} of split {split!r} (binarize_seq2seq.py)")
            sides.append(dataset)
        if len(sides[0]) != len(sides[1]):
            raise ValueError(f"{self.cfg.data}: split {split!r} has {len(sides[0])} sources, {len(sides[1])} targets")
        self.datasets[split] = self._pair_dataset(*sides, shuffle=split == "train")
        logger.info(f"{split}: {len(self.datasets[split])} pairs")
        return self.datasets[split]

    def build_dataset_for_inference(self, src_tokens: Sequence[torch.Tensor], src_lengths: Sequence[int],
                                    constraints: Optional[torch.Tensor] = None) -> Seq2seqPairDataset:
        """``fairseq-interactive``'s lines (``w.. </s>``) as ``<s> w.. </s>`` sources, cut like training's."""
        bos, eos, keep = self.dictionary.bos(), self.dictionary.eos(), self.cfg.max_source_positions - 2
        sources = [torch.cat([t.new_tensor([bos]), t[t.ne(eos)][:keep], t.new_tensor([eos])]) for t in src_tokens]
        return Seq2seqPairDataset(sources, [len(t) for t in sources], self.dictionary, constraints=constraints,
                                  eos=self.target_end, decoder_start=self.decoder_start)

    def build_model(self, cfg: UnimoConfig, from_checkpoint: bool = False) -> UnimoModel:
        """The limit is checked on the built model: fairseq applies an architecture's sizes in building.
        Target positions restart after the source (the release's), or continue and share the positions."""
        model = super().build_model(cfg, from_checkpoint)
        source, target = self.cfg.max_source_positions, self.cfg.max_target_positions
        limit = max(source, target) if model.cfg.target_positions == "restart" else source + target
        if limit > model.max_positions() and not from_checkpoint:  # generating, the decoder checks each step
            raise ValueError(f"--max-source-positions {source} and --max-target-positions {target} need {limit} text "
                             f"positions with --target-positions {model.cfg.target_positions}; the model has "
                             f"--max-positions {model.max_positions()}")
        return model

    def max_positions(self) -> None:
        return None  # sources and targets are cut to their limits
