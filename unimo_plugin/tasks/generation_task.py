"""What the seq2seq fine-tuning tasks share: BPE for decoding, and BLEU on the validation set.

The BPE defaults to the one the task records (``--bpe-record``, from the data's manifests, see
``unimo_plugin/tasks/base_task.py``), so ``fairseq-generate`` prints detokenized ``D-`` lines without
BPE options. ``--eval-bleu`` generates during validation and logs sacreBLEU's sufficient statistics,
summed over batches like fairseq's translation task, against every reference of a sample, for
checkpoint selection (``--best-checkpoint-metric bleu --maximize-best-checkpoint-metric``).
"""
import json
import logging
from argparse import Namespace
from dataclasses import dataclass, field
from typing import Any, Dict, List

import torch
from fairseq import metrics, utils

from ..models.unimo import UnimoConfig, UnimoModel
from .base_task import UnimoTask, UnimoTaskConfig

logger = logging.getLogger(__name__)
BLEU_ORDER = 4


@dataclass
class GenerationEvalConfig(UnimoTaskConfig):
    eval_bleu: bool = field(default=False, metadata={"help": "generate on the validation set and log BLEU"})
    eval_bleu_args: str = field(
        default='{"beam": 5, "max_len_b": 30}',
        metadata={"help": "generation options for --eval-bleu, as JSON (fairseq generation option names)"})
    eval_bleu_print_samples: bool = field(default=False, metadata={"help": "log one hypothesis per batch"})


class UnimoGenerationTask(UnimoTask):
    def __init__(self, cfg: GenerationEvalConfig, dictionary):
        super().__init__(cfg, dictionary)
        self._bpe = None
        self._bleu_generator = None

    def decode(self, tokens: torch.Tensor) -> str:
        """Token ids -> text, through the recorded BPE unless it is ``none`` (as fairseq-generate's D- lines)."""
        if self._bpe is None:
            self._bpe = self.build_bpe(Namespace(bpe=None)) or False
        text = self.dictionary.string(tokens.int().cpu(), unk_string="UNKNOWNTOKENINHYP")
        return self._bpe.decode(text) if self._bpe else text

    def build_model(self, cfg: UnimoConfig, from_checkpoint: bool = False) -> UnimoModel:
        model = super().build_model(cfg, from_checkpoint)
        if self.cfg.eval_bleu:
            options = json.loads(self.cfg.eval_bleu_args or "{}")
            self._bleu_generator = self.build_generator([model], Namespace(**options))
        return model

    def valid_step(self, sample: Dict[str, Any], model: UnimoModel, criterion):
        loss, sample_size, logging_output = super().valid_step(sample, model, criterion)
        if self.cfg.eval_bleu:
            import sacrebleu

            hypos = self.inference_step(self._bleu_generator, [model], sample)
            hyps = [self.decode(h[0]["tokens"]) for h in hypos]
            refs = sample.get("references") or [
                [self.decode(utils.strip_pad(t, self.dictionary.pad()))] for t in sample["target"]]
            streams = [[r[k] if k < len(r) else None for r in refs] for k in range(max(map(len, refs)))]
            bleu = sacrebleu.corpus_bleu(hyps, streams)
            if self.cfg.eval_bleu_print_samples:
                logger.info(f"hypothesis: {hyps[0]!r} | reference: {refs[0][0]!r}")
            logging_output["_bleu_sys_len"] = bleu.sys_len
            logging_output["_bleu_ref_len"] = bleu.ref_len
            for i in range(BLEU_ORDER):
                logging_output[f"_bleu_counts_{i}"] = bleu.counts[i]
                logging_output[f"_bleu_totals_{i}"] = bleu.totals[i]
        return loss, sample_size, logging_output

    def reduce_metrics(self, logging_outputs: List[Dict[str, Any]], criterion):
        super().reduce_metrics(logging_outputs, criterion)
        if not self.cfg.eval_bleu:
            return

        def total(key):
            return sum(log.get(key, 0) for log in logging_outputs)

        counts = [total(f"_bleu_counts_{i}") for i in range(BLEU_ORDER)]
        totals = [total(f"_bleu_totals_{i}") for i in range(BLEU_ORDER)]
        if max(totals) > 0:
            for i in range(BLEU_ORDER):
                # plain numbers: meters are saved in checkpoints, which load with weights_only
                metrics.log_scalar(f"_bleu_counts_{i}", counts[i])
                metrics.log_scalar(f"_bleu_totals_{i}", totals[i])
            metrics.log_scalar("_bleu_sys_len", total("_bleu_sys_len"))
            metrics.log_scalar("_bleu_ref_len", total("_bleu_ref_len"))

            def compute_bleu(meters):
                from sacrebleu.metrics import BLEU

                return round(BLEU.compute_bleu(
                    correct=[meters[f"_bleu_counts_{i}"].sum for i in range(BLEU_ORDER)],
                    total=[meters[f"_bleu_totals_{i}"].sum for i in range(BLEU_ORDER)],
                    sys_len=int(meters["_bleu_sys_len"].sum), ref_len=int(meters["_bleu_ref_len"].sum),
                    smooth_method="exp").score, 2)

            metrics.log_derived("bleu", compute_bleu)

