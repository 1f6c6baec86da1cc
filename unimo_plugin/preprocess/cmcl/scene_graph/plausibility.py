"""The plausibility filter: keep only rewrites that text alone cannot tell from true captions.

A hard negative that reads less naturally than a true caption teaches CMCL a text shortcut instead of
grounding. A smoothed n-gram model of the vocabulary split's own true captions (``common/ngram_lm.py``)
scores a caption and each rewrite of it; the rewrite is kept when its log-probability minus the
caption's lies within a band ``[-below, above]`` nats. The band is calibrated on the split itself, over
candidate rewrites of up to ``CALIBRATION_CAPTIONS`` captions (:func:`calibrate_band`): the widest
symmetric band for which the model scores the caption above the kept rewrite for at most ``target`` of
them (0.5: a coin flip, so that a blind model of the pairs cannot beat chance, neither by preferring the
caption nor by preferring the rewrite). The band is saved with the vocabulary, so every shard of a run
filters alike.
"""
import math
from typing import Optional, Sequence, Tuple

from ....common.ngram_lm import NgramLM

MODELS = ("ngram", "none")
CALIBRATION_CAPTIONS = 2000
CALIBRATION_DRAWS = 4  # candidate rewrites per calibration caption


class Plausibility:
    """Keeps a rewrite whose log-probability minus its caption's lies in ``[-below, above]`` (None: no bound)."""

    def __init__(self, lm: NgramLM, below: Optional[float], above: Optional[float] = None):
        self.lm, self.below, self.above = lm, below, above

    def score(self, text: str) -> float:
        return self.lm.logprob(text)

    def keeps(self, delta: float) -> bool:
        """Whether a rewrite ``delta`` nats more likely than its caption (negative: less likely) is kept."""
        return (self.below is None or delta >= -self.below) and (self.above is None or delta <= self.above)


def calibrate_band(deltas: Sequence[float], target: float = 0.5) -> Tuple[Optional[float], Optional[float]]:
    """``(below, above)``: the band of ``deltas`` (rewrite minus caption) to keep so that the caption scores
    higher for at most ``target`` of the kept rewrites.

    Preferred is a symmetric band ``[-m, m]``, the widest that meets the target, so that neither a lower
    nor a higher score gives a negative away; when it would keep less than 60% of what a one-sided band
    keeps (the rewrites mostly score below their captions), the one-sided band ``[-m, +inf)`` that keeps
    every rewrite scoring at least as high as its caption and as many below as the target allows.
    """
    if not 0 < target < 1:
        raise ValueError(f"the plausibility target is a share in (0, 1), got {target}")
    events = sorted((abs(d), d < 0) for d in deltas)
    below = above = 0
    symmetric, symmetric_kept = None, 0
    for n, (magnitude, negative) in enumerate(events):
        below += negative
        above += not negative
        last_of_magnitude = n + 1 == len(events) or events[n + 1][0] != magnitude
        if last_of_magnitude and below <= target * (below + above):
            symmetric, symmetric_kept = magnitude, below + above
    one_sided = calibrate_margin(deltas, target)
    one_sided_kept = sum(1 for d in deltas if one_sided is None or d >= -one_sided)
    if symmetric is not None and symmetric_kept >= 0.6 * one_sided_kept:
        return (None, None) if symmetric_kept == len(events) else (symmetric, symmetric)
    return one_sided, None


def calibrate_margin(deltas: Sequence[float], target: float = 0.5) -> Optional[float]:
    """The largest margin for which the caption scores higher for at most ``target`` of the kept
    candidates (``deltas``: rewrite minus caption, kept when >= -margin); None when all may be kept."""
    if not 0 < target < 1:
        raise ValueError(f"the plausibility target is a share in (0, 1), got {target}")
    kept_anyway = sum(1 for d in deltas if d >= 0)
    below = sorted(-d for d in deltas if d < 0)
    allowed = int(math.floor(kept_anyway * target / (1 - target)))
    if allowed >= len(below):
        return None
    # keep the ``allowed`` closest below the caption: the margin lies between the last kept and the next
    return 0.0 if allowed == 0 else (below[allowed - 1] + below[allowed]) / 2
