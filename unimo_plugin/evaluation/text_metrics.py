"""ROUGE and BLEU for the text generation tasks (summarization, question generation), one reference each.

ROUGE-1/2/L are Google's rouge-score (a re-implementation of ROUGE-1.5.5) with Porter stemming, as the
papers ran ROUGE-1.5.5 with ``-m``; the score is the mean over samples of the F1. ROUGE-Lsum (the
summary-level LCS that CNN/DailyMail results use) splits summaries into sentences first. BLEU is
sacreBLEU's corpus BLEU with its default 13a tokenization, reported with its signature.

Datasets that mark sentence breaks with ``<n>`` keep those markers out of every metric (rouge-score would
count each as the word "n"); they only split sentences for ROUGE-Lsum.
"""
import re
from typing import Dict, List, Tuple

from rouge_score import rouge_scorer
from sacrebleu.metrics import BLEU

from ..common.artifacts import InputError

SENTENCE_MARKER = "<n>"
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def read_references(path: str) -> List[str]:
    """One reference per line (a ``.target`` file): line ``i`` belongs to sample id ``i``."""
    with open(path, encoding="utf-8") as f:
        references = [line.rstrip("\n") for line in f]
    if not references:
        raise InputError(path, "no references (empty file)")
    return references


def summary_sentences(text: str) -> List[str]:
    """The sentences of a summary: split at ``<n>`` markers where the text has them, else after
    ``.``, ``!`` or ``?`` followed by a space."""
    parts = text.split(SENTENCE_MARKER) if SENTENCE_MARKER in text else _SENTENCE_END.split(text)
    return [part.strip() for part in parts if part.strip()]


def _without_markers(text):
    return " ".join(text.replace(SENTENCE_MARKER, " ").split())


def score_text(hypotheses: List[str], references: List[str],
               rouge_lsum: bool = False) -> Tuple[Dict[str, float], str]:
    """Scores ×100 by metric name (ROUGE-1, ROUGE-2, ROUGE-L, [ROUGE-Lsum,] BLEU) and sacreBLEU's signature."""
    if len(hypotheses) != len(references) or not hypotheses:
        raise ValueError(f"{len(hypotheses)} hypotheses for {len(references)} references: need one per reference")
    names = {"rouge1": "ROUGE-1", "rouge2": "ROUGE-2", "rougeL": "ROUGE-L"}
    if rouge_lsum:
        names["rougeLsum"] = "ROUGE-Lsum"
    scorer = rouge_scorer.RougeScorer(list(names), use_stemmer=True)
    totals = dict.fromkeys(names, 0.0)
    for hypothesis, reference in zip(hypotheses, references):
        # rougeLsum reads sentences as lines; the other types ignore line breaks
        scores = scorer.score("\n".join(map(_without_markers, summary_sentences(reference))),
                              "\n".join(map(_without_markers, summary_sentences(hypothesis))))
        for key in names:
            totals[key] += scores[key].fmeasure
    result = {name: 100 * totals[key] / len(hypotheses) for key, name in names.items()}
    bleu = BLEU()
    result["BLEU"] = bleu.corpus_score([_without_markers(h) for h in hypotheses],
                                       [[_without_markers(r) for r in references]]).score
    return result, str(bleu.get_signature())
