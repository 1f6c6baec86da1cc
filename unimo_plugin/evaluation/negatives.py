"""Grading CMCL hard negatives against the ground truth (``unimo-grade-negatives``).

A hard negative of a caption is meant to be a well-formed sentence that is false of the caption's
image, and that text alone cannot tell from a true caption. Given a caption split, its negatives
(``cmcl_raw`` files: scene-graph rewrites, TF-IDF retrievals) and an oracle that judges any text against
any image, this module counts per level and kind of negative:

- **valid**: well-formed and false of the image (what a hard negative should be);
- **false negative**: true of the image, yet trained as a negative;
- **malformed**: not a sentence of the data's language (CMCL can reject it without the image);
- **blind-text accuracy**: how often a smoothed n-gram model of the split's own true captions scores
  the caption above its negative (ties count one half); 50% means text alone cannot tell them apart.

An oracle is any object with ``judge(image_id, text) -> "true" | "false" | "malformed"``
(``unimo_plugin.testing.sample_oracle.SampleOracle`` for the sample data). The oracle only grades.
"""
import collections
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

from ..common.ngram_lm import NgramLM

VERDICTS = ("true", "false", "malformed")
REWRITE_LEVELS = ("phrase", "word")
# The targets a rewriting should meet (issue: valid >= 90%, false negatives <= 2%, malformed <= 5%,
# blind-text accuracy <= 60%, a rewrite for >= 90% of captions).
TARGETS = {"valid": (">=", 90.0), "false_negative": ("<=", 2.0), "malformed": ("<=", 5.0),
           "blind": ("<=", 60.0), "coverage": (">=", 90.0)}


@dataclass
class Group:
    """Counts of one group of negatives."""

    negatives: int = 0
    verdicts: Dict[str, int] = field(default_factory=lambda: dict.fromkeys(VERDICTS, 0))
    blind: Dict[int, float] = field(default_factory=dict)  # LM order -> caption preferred (ties: 1/2)
    examples: Dict[str, list] = field(default_factory=lambda: {"true": [], "malformed": []})

    def rate(self, verdict: str) -> float:
        return 100.0 * self.verdicts[verdict] / self.negatives if self.negatives else 0.0

    @property
    def valid(self) -> float:
        return self.rate("false")

    def blind_accuracy(self, order: int) -> float:
        return 100.0 * self.blind.get(order, 0.0) / self.negatives if self.negatives else 0.0


@dataclass
class GradeReport:
    captions: int
    groups: Dict[Tuple[str, str], Group]  # (level, kind) -> counts; ("all", ...)/(..., "all") are totals
    rewritten: int  # captions with at least one phrase- or word-level rewrite
    lm_orders: Tuple[int, ...]

    @property
    def coverage(self) -> float:
        return 100.0 * self.rewritten / self.captions if self.captions else 0.0

    def rewrites(self) -> Group:
        return self.groups.get(("rewrites", "all"), Group())

    def targets(self) -> List[Tuple[str, float, str, float, bool]]:
        """(name, value, comparison, target, met) of the rewrites (phrase and word levels)."""
        g = self.rewrites()
        values = {"valid": g.valid, "false_negative": g.rate("true"), "malformed": g.rate("malformed"),
                  "blind": max([g.blind_accuracy(o) for o in self.lm_orders] or [0.0]), "coverage": self.coverage}
        out = []
        for name, (op, target) in TARGETS.items():
            value = values[name]
            out.append((name, value, op, target, value >= target if op == ">=" else value <= target))
        return out


def _group_keys(item):
    level = item.get("level", "unknown")
    kind = (item.get("swapped") or {}).get("kind", "unknown")
    keys = [(level, kind), (level, "all")]
    if level in REWRITE_LEVELS:
        keys += [("rewrites", kind), ("rewrites", "all")]
    return keys


def grade_negatives(captions: Sequence[dict], negatives: Sequence[Sequence[dict]], oracle,
                    lm_orders: Sequence[int] = (2,), lm_sentences: Optional[Sequence[str]] = None,
                    max_examples: int = 3) -> GradeReport:
    """Grade ``negatives[i]`` (cmcl_raw items) of each of ``captions`` (caption records) with ``oracle``.

    The blind-text models are fitted on ``lm_sentences`` (default: the captions' own texts, as a model
    of the training captions would be).
    """
    if len(negatives) != len(captions):
        raise ValueError(f"negatives for {len(negatives)} captions, {len(captions)} captions")
    texts = [c["text"] for c in captions] if lm_sentences is None else list(lm_sentences)
    models = {order: NgramLM.fit(texts, order) for order in lm_orders}
    groups = collections.defaultdict(Group)
    rewritten = 0
    for caption, items in zip(captions, negatives):
        if any(it.get("level") in REWRITE_LEVELS for it in items):
            rewritten += 1
        if not items:
            continue
        caption_scores = {order: lm.logprob(caption["text"]) for order, lm in models.items()}
        for item in items:
            verdict = oracle.judge(caption["image_id"], item["text"])
            if verdict not in VERDICTS:
                raise ValueError(f"the oracle judged {item['text']!r} {verdict!r}; expected one of {VERDICTS}")
            preferred = {}
            for order, lm in models.items():
                a, b = caption_scores[order], lm.logprob(item["text"])
                preferred[order] = 1.0 if a > b else 0.5 if a == b else 0.0
            for key in _group_keys(item):
                g = groups[key]
                g.negatives += 1
                g.verdicts[verdict] += 1
                for order, value in preferred.items():
                    g.blind[order] = g.blind.get(order, 0.0) + value
                if verdict in g.examples and len(g.examples[verdict]) < max_examples:
                    g.examples[verdict].append((caption["text"], item["text"], item.get("swapped")))
    return GradeReport(len(captions), dict(groups), rewritten, tuple(lm_orders))


_LEVEL_ORDER = {"sentence": 0, "phrase": 1, "word": 2, "rewrites": 3}


def report_lines(report: GradeReport, show_examples: bool = False) -> List[str]:
    """The table the command prints: per level and kind, then the rewrites' figures against the targets."""
    orders = report.lm_orders
    head = (f"{'level':<9}{'kind':<11}{'negatives':>10}{'valid':>8}{'false neg':>11}{'malformed':>11}"
            + "".join(f"{f'blind({o}-gram)':>15}" for o in orders))
    lines = [head]
    keys = sorted(report.groups, key=lambda k: (_LEVEL_ORDER.get(k[0], 9), k[0], k[1] == "all", k[1]))
    for key in keys:
        g = report.groups[key]
        label = "all rewrites" if key == ("rewrites", "all") else None
        lines.append((f"{label:<20}" if label else f"{key[0]:<9}{key[1]:<11}")
                     + f"{g.negatives:>10}{g.valid:>7.1f}%{g.rate('true'):>10.1f}%{g.rate('malformed'):>10.1f}%"
                     + "".join(f"{g.blind_accuracy(o):>14.1f}%" for o in orders))
    lines.append(f"captions with >= 1 rewrite: {report.coverage:.1f}% ({report.rewritten} of {report.captions})")
    if report.rewrites().negatives:
        lines.append("rewrites against the targets: " + "; ".join(
            f"{name.replace('_', ' ')} {value:.1f}% ({op} {target:g}%: {'met' if met else 'NOT MET'})"
            for name, value, op, target, met in report.targets()))
    if show_examples:
        for key in keys:
            for verdict, label in (("true", "false negatives"), ("malformed", "malformed")):
                examples = report.groups[key].examples[verdict]
                if examples and key[1] != "all" and key[0] != "rewrites":
                    lines.append(f"{key[0]} {key[1]}, {label}:")
                    lines.extend(f"    {caption!r} -> {negative!r}" for caption, negative, _ in examples)
    return lines


def report_json(report: GradeReport) -> dict:
    """The report as JSON: per group its counts and rates, the coverage and the targets."""
    return {
        "captions": report.captions, "rewritten": report.rewritten, "coverage": round(report.coverage, 2),
        "groups": {f"{level}/{kind}": {
            "negatives": g.negatives, "verdicts": g.verdicts, "valid": round(g.valid, 2),
            "false_negative": round(g.rate("true"), 2), "malformed": round(g.rate("malformed"), 2),
            "blind": {str(o): round(g.blind_accuracy(o), 2) for o in report.lm_orders}}
            for (level, kind), g in report.groups.items()},
        "targets": {name: {"value": round(value, 2), "target": f"{op} {target:g}", "met": met}
                    for name, value, op, target, met in report.targets()},
    }
