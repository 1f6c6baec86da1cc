"""What the seq2seq fine-tuning tasks share: the release's decoding conventions, BPE for decoding, and
BLEU on the validation set.

By default they follow the official UNIMO release, whose weights were trained so: the decoder starts
from ``<s>`` ([CLS]) (``--decoder-start``), and ``fairseq-generate`` decodes with the release's beam
search (``--beam-search release``, see ``models/release_beam_search.py``: the GNMT length penalty
((5 + len) / 6) ** alpha at every step, alpha = ``--lenpen``, and with ``--block-word-trigrams`` its
word-level trigram blocking). ``--decoder-start eos --beam-search fairseq`` give fairseq's conventions.

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
from fairseq.dataclass import ChoiceEnum

from ..models.release_beam_search import ReleaseBeamSearch, WordTrigrams
from ..models.unimo import UnimoConfig, UnimoModel
from .adversarial import AdversarialConfig, AdversarialTask

logger = logging.getLogger(__name__)
BLEU_ORDER = 4


@dataclass
class GenerationEvalConfig(AdversarialConfig):
    eval_bleu: bool = field(default=False, metadata={"help": "generate on the validation set and log BLEU"})
    eval_bleu_args: str = field(
        default='{"beam": 5, "max_len_b": 30}',
        metadata={"help": "generation options for --eval-bleu, as JSON (fairseq generation option names)"})
    eval_bleu_print_samples: bool = field(default=False, metadata={"help": "log one hypothesis per batch"})
    decoder_start: ChoiceEnum(["bos", "eos"]) = field(
        default="bos", metadata={"help": "the decoder's first input: <s> ([CLS], the official release's) or </s> "
                                         "(fairseq's); training and generation must agree"})
    beam_search: ChoiceEnum(["release", "fairseq"]) = field(
        default="release", metadata={"help": "release: the official release's beam search, the GNMT length penalty "
                                             "((5 + len) / 6) ** --lenpen at every step with finished hypotheses "
                                             "keeping their place in the beam; fairseq: fairseq's SequenceGenerator "
                                             "(length ** --lenpen at the end; sampling and its other options)"})
    block_word_trigrams: bool = field(
        default=False, metadata={"help": "with --beam-search release: never repeat a trigram of words (BPE pieces "
                                         "joined into words), as the release decodes CNN/DailyMail"})


# fairseq generation options the release's beam search does not have, with the values that mean "off"
_FAIRSEQ_ONLY = {"sampling": False, "diverse_beam_groups": -1, "match_source_len": False, "diversity_rate": -1,
                 "constraints": None, "no_repeat_ngram_size": 0, "prefix_size": 0, "lm_path": None,
                 "unnormalized": False, "temperature": 1.0, "unkpen": 0, "score_reference": False}


class UnimoGenerationTask(AdversarialTask):
    def __init__(self, cfg: GenerationEvalConfig, dictionary):
        super().__init__(cfg, dictionary)
        self._bpe = None
        self._bleu_generator = None

    @property
    def decoder_start(self) -> int:
        return self.dictionary.bos() if self.cfg.decoder_start == "bos" else self.dictionary.eos()

    @property
    def target_end(self) -> int:
        """The symbol that ends a target (and generation): ``</s>`` unless a task says otherwise."""
        return self.dictionary.eos()

    def word_starts(self) -> torch.Tensor:
        """Per dictionary symbol, whether it begins a word: its BPE text starts with a space (every symbol
        without a BPE; special symbols too)."""
        bpe = self._bpe if self._bpe is not None else (self.build_bpe(Namespace(bpe=None)) or False)
        starts = torch.ones(len(self.dictionary), dtype=torch.bool)
        if bpe:
            for index in range(self.dictionary.nspecial, len(self.dictionary)):
                try:
                    starts[index] = bpe.decode(self.dictionary[index]).startswith(" ")
                except (ValueError, KeyError):  # not a BPE piece (madeupword, <mask>): a word of its own
                    pass
        return starts

    def build_generator(self, models, args, seq_gen_cls=None, extra_gen_cls_kwargs=None,
                        prefix_allowed_tokens_fn=None):
        if self.cfg.beam_search == "fairseq" or seq_gen_cls is not None:
            extra = dict(extra_gen_cls_kwargs or {}, eos=self.target_end)
            return super().build_generator(models, args, seq_gen_cls, extra, prefix_allowed_tokens_fn)
        unsupported = [f"--{name.replace('_', '-')}" for name, off in _FAIRSEQ_ONLY.items()
                       if getattr(args, name, off) not in (off, None)]
        if unsupported or prefix_allowed_tokens_fn is not None:
            raise ValueError(f"{', '.join(unsupported) or 'a prefix function'} need fairseq's search: add "
                             f"--beam-search fairseq")
        word_trigrams = WordTrigrams(self.word_starts()) if self.cfg.block_word_trigrams else None
        return ReleaseBeamSearch(models, self.target_dictionary, beam_size=getattr(args, "beam", 5),
                                 alpha=getattr(args, "lenpen", 1.0), max_len_a=getattr(args, "max_len_a", 0),
                                 max_len_b=getattr(args, "max_len_b", 200), min_len=getattr(args, "min_len", 1),
                                 bos=self.decoder_start, eos=self.target_end, word_trigrams=word_trigrams)

    def inference_step(self, generator, models, sample, prefix_tokens=None, constraints=None):
        with torch.no_grad():
            return generator.generate(models, sample, prefix_tokens=prefix_tokens, constraints=constraints,
                                      bos_token=self.decoder_start)

    def decode(self, tokens: torch.Tensor) -> str:
        """Token ids -> text, through the recorded BPE unless it is ``none`` (as fairseq-generate's D- lines)."""
        if self._bpe is None:
            self._bpe = self.build_bpe(Namespace(bpe=None)) or False
        text = self.dictionary.string(tokens.int().cpu(), unk_string="UNKNOWNTOKENINHYP",
                                      extra_symbols_to_ignore={self.decoder_start, self.target_end})
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

