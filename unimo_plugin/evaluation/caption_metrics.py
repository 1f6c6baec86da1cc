"""COCO caption metrics against every reference of an image, with the coco-caption code (pycocoevalcap).

Captions are lower-cased and tokenized by the Stanford PTB tokenizer with punctuation removed, then
scored with BLEU-1..4, METEOR, ROUGE-L and CIDEr-D (pycocoevalcap's ``Cider`` is the CIDEr-D variant that
captioning papers report, with document frequencies from the evaluated references); SPICE on request.
The tokenizer, METEOR and SPICE run Java.
"""
import shutil
from typing import Dict, List, Tuple

import numpy as np

METRICS = ("BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr-D")


def require_java():
    if shutil.which("java") is None:
        raise RuntimeError("java not found on PATH: pycocoevalcap's PTB tokenizer and METEOR run Java "
                           "(install a Java runtime, e.g. apt-get install default-jre-headless)")


def _one_line(text):
    """The tokenizer reads one caption per line: any line break inside a caption would shift the rest."""
    return " ".join(text.split())


def spice_score(gts, res):
    """SPICE ×100 of PTB-tokenized captions, or None and why it could not run: it downloads Stanford
    CoreNLP on first use."""
    from pycocoevalcap.spice.spice import Spice
    try:
        return 100 * Spice().compute_score(gts, res)[0], None
    except Exception as e:  # a failed download or Java failure must not lose the other metrics
        return None, (f"{type(e).__name__}: {e} (SPICE downloads Stanford CoreNLP 3.6.0 into pycocoevalcap's "
                      "spice/lib on first use, and runs Java with 8 GB)")


def score_captions(hypotheses: List[str], references: List[List[str]],
                   spice: bool = False) -> Tuple[Dict[str, float], Dict[str, str]]:
    """Corpus scores ×100 (as papers report them) of ``hypotheses[i]`` against all of ``references[i]``.

    Returns the scores by metric name and, for a metric that was asked for but could not run (SPICE),
    the reason it was skipped.
    """
    if len(hypotheses) != len(references) or not hypotheses:
        raise ValueError(f"{len(hypotheses)} hypotheses for {len(references)} images: need one per image")
    require_java()
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.meteor.meteor import Meteor
    from pycocoevalcap.rouge.rouge import Rouge
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    tokenizer = PTBTokenizer()
    gts = tokenizer.tokenize({i: [{"caption": _one_line(r)} for r in refs] for i, refs in enumerate(references)})
    res = tokenizer.tokenize({i: [{"caption": _one_line(h)}] for i, h in enumerate(hypotheses)})
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    scores = {f"BLEU-{n}": 100 * value for n, value in enumerate(bleu, 1)}
    scores["METEOR"] = 100 * Meteor().compute_score(gts, res)[0]
    scores["ROUGE-L"] = 100 * Rouge().compute_score(gts, res)[0]
    scores["CIDEr-D"] = 100 * Cider().compute_score(gts, res)[0]
    skipped = {}
    if spice:
        value, reason = spice_score(gts, res)
        if value is None:
            skipped["SPICE"] = reason
        else:
            scores["SPICE"] = value
    return scores, skipped


def random_train_captions(train_references: List[List[str]], count: int, seed: int) -> List[str]:
    """``count`` captions drawn uniformly, with replacement, from all captions of the training split:
    the score of text that fits the domain but not the image, a floor for a model's scores."""
    captions = [caption for refs in train_references for caption in refs]
    if not captions:
        raise ValueError("the training split has no captions to draw the baseline from")
    rng = np.random.default_rng(seed)
    return [captions[i] for i in rng.integers(len(captions), size=count)]
