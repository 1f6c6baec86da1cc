"""A smoothed word n-gram language model: interpolated Kneser-Ney (Chen & Goodman 1998, one absolute
discount per order, D = n1 / (n1 + 2 n2)), in pure Python.

What CMCL's text side uses it for: scoring a caption and a rewrite of it with a model of the split's
own true captions tells how well text alone can tell them apart (the grader's blind-text accuracy),
and the rewriting's plausibility filter keeps rewrites that such a model cannot tell apart.

Sentences are tokenised by :func:`words` (lower-cased words and punctuation marks) and scored with
``<s>`` before and ``</s>`` after; an unseen word gets the share of the uniform distribution the
lowest order interpolates with (one extra type for all unknown words), so no score is ever -inf.
"""
import collections
import math
import re
from typing import Dict, Iterable, List, Tuple

_TOKEN = re.compile(r"\w+|[^\w\s]")
BOS, EOS = "<s>", "</s>"


def words(text: str) -> List[str]:
    """Lower-cased words and punctuation marks: ``"A red, round cup."`` -> a red , round cup ."""
    return _TOKEN.findall(text.lower())


def _discount(counts):
    """Kneser-Ney's absolute discount of one order from its counts of counts (0.75 when too few)."""
    n1 = sum(1 for c in counts.values() if c == 1)
    n2 = sum(1 for c in counts.values() if c == 2)
    return n1 / (n1 + 2 * n2) if n1 and n2 else 0.75


class NgramLM:
    """Interpolated Kneser-Ney n-gram model of order ``order`` (1: unigram, 2: bigram, ...)."""

    def __init__(self, order: int = 3):
        if order < 1:
            raise ValueError(f"an n-gram order is >= 1, got {order}")
        self.order = order
        # per order k (1..order): counts of k-grams (raw for the highest order, continuation counts below),
        # their histories' totals, and the number of distinct words following each history
        self.counts: List[Dict[Tuple[str, ...], int]] = [dict() for _ in range(order + 1)]
        self.totals: List[Dict[Tuple[str, ...], int]] = [dict() for _ in range(order + 1)]
        self.followers: List[Dict[Tuple[str, ...], int]] = [dict() for _ in range(order + 1)]
        self.discounts = [0.0] * (order + 1)
        self.vocabulary_size = 1
        self._cache: Dict[Tuple[str, ...], float] = {}  # n-gram -> log-probability; captions repeat their n-grams

    @classmethod
    def fit(cls, sentences: Iterable[str], order: int = 3) -> "NgramLM":
        """The model of ``sentences`` (texts, tokenised by :func:`words`)."""
        lm = cls(order)
        top = collections.Counter()
        vocabulary = set()
        for text in sentences:
            tokens = [BOS] * (order - 1) + words(text) + [EOS]
            vocabulary.update(tokens[order - 1:])
            for i in range(order - 1, len(tokens)):
                top[tuple(tokens[i - order + 1:i + 1])] += 1
        # Lower orders count the distinct words seen before each k-gram (continuation counts). The
        # padded starts "<s> <s> w" also stand for the shorter n-grams that begin a sentence.
        counts = [collections.Counter() for _ in range(order + 1)]
        counts[order] = top
        for k in range(order - 1, 0, -1):
            for gram in counts[k + 1]:
                counts[k][gram[1:]] += 1
        for k in range(1, order + 1):
            totals, followers = collections.Counter(), collections.Counter()
            for gram, n in counts[k].items():
                totals[gram[:-1]] += n
                followers[gram[:-1]] += 1
            lm.counts[k], lm.totals[k], lm.followers[k] = dict(counts[k]), dict(totals), dict(followers)
            lm.discounts[k] = _discount(counts[k])
        lm.vocabulary_size = len(vocabulary) + 1  # + one type for every unknown word
        return lm

    def _prob(self, history: Tuple[str, ...], word: str) -> float:
        p = 1.0 / self.vocabulary_size
        for k in range(1, self.order + 1):
            h = history[len(history) - k + 1:] if k > 1 else ()
            total = self.totals[k].get(h)
            if not total:
                continue  # an unseen history: the lower order alone
            d = self.discounts[k]
            n = self.counts[k].get(h + (word,), 0)
            p = max(n - d, 0.0) / total + d * self.followers[k][h] / total * p
        return p

    def logprob(self, text: str) -> float:
        """Natural log-probability of the whole sentence, ``</s>`` included."""
        n = self.order
        tokens = (BOS,) * (n - 1) + tuple(words(text)) + (EOS,)
        cache, total = self._cache, 0.0
        for i in range(n - 1, len(tokens)):
            gram = tokens[i - n + 1:i + 1]
            value = cache.get(gram)
            if value is None:
                if len(cache) > 1_000_000:
                    cache.clear()
                value = cache[gram] = math.log(self._prob(gram[:-1], gram[-1]))
            total += value
        return total
