"""The smoothed n-gram model (common/ngram_lm.py): a distribution at every history, finite for unseen words."""
import math

import pytest

from unimo_plugin.common.ngram_lm import EOS, NgramLM, words

SENTENCES = ["a red circle is above a blue square.", "a small red circle on the left.",
             "a blue square to the left of a red star.", "there are two objects: a red circle and a blue star."]


@pytest.mark.parametrize("order", [1, 2, 3])
def test_probabilities_sum_to_one_at_every_history(order):
    lm = NgramLM.fit(SENTENCES, order)
    vocabulary = sorted({w for s in SENTENCES for w in words(s)} | {EOS})
    assert lm.vocabulary_size == len(vocabulary) + 1
    for history in [(), ("a",), ("<s>", "<s>"), ("a", "red"), ("red", "circle"), ("unseen", "words")]:
        history = (("<s>",) * order + history)[-(order - 1):] if order > 1 else ()
        total = sum(lm._prob(history, w) for w in vocabulary) + lm._prob(history, "never-seen")
        assert total == pytest.approx(1.0), history


def test_seen_text_scores_above_an_unseen_word_and_nothing_is_minus_infinity():
    lm = NgramLM.fit(SENTENCES, 3)
    seen, unseen = lm.logprob("a red circle is above a blue square."), lm.logprob("a red zebra is above a blue square.")
    assert math.isfinite(unseen) and unseen < seen < 0
    assert lm.logprob("A RED circle") == lm.logprob("a red circle")  # lower-cased words
    with pytest.raises(ValueError, match=">= 1"):
        NgramLM(0)
