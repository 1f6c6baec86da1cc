"""The official release's beam search against beams worked out by hand on a fixed Markov model, and its
word-level trigram blocking."""
import math

import pytest
import torch
from fairseq.data import Dictionary
from fairseq.models import FairseqDecoder, FairseqEncoder, FairseqEncoderDecoderModel

from unimo_plugin.models.release_beam_search import ReleaseBeamSearch, WordTrigrams, gnmt_length_penalty

# <s> 0, <pad> 1, </s> 2, <unk> 3, then a 4, b 5, c 6
A, B, C, EOS, BOS = 4, 5, 6, 2, 0
NEXT = {  # the next-token distribution given the last token
    BOS: {A: 0.6, B: 0.4},
    A: {EOS: 0.5, A: 0.3, B: 0.2},
    B: {A: 0.5, B: 0.4, EOS: 0.1},
    C: {EOS: 1.0},
    EOS: {EOS: 1.0},
}


def dictionary():
    d = Dictionary()
    for word in "abc":
        d.add_symbol(word)
    return d


class _Encoder(FairseqEncoder):
    def forward(self, src_tokens, **unused):
        return {"rows": torch.arange(src_tokens.size(0))}

    def reorder_encoder_out(self, encoder_out, new_order):
        return {"rows": encoder_out["rows"].index_select(0, new_order)}


class _Decoder(FairseqDecoder):
    """Log probabilities of NEXT[last token] at every position: no state, the whole prefix each step."""

    def forward(self, prev_output_tokens, encoder_out=None, **unused):
        table = torch.full((7, 7), -math.inf)
        for last, probs in NEXT.items():
            for token, p in probs.items():
                table[last, token] = math.log(p)
        return table[prev_output_tokens], {"attn": [None]}

    def max_positions(self):
        return 100


def markov_model():
    d = dictionary()
    return FairseqEncoderDecoderModel(_Encoder(d), _Decoder(d)).eval(), d


def search(beam=2, alpha=1.0, **options):
    model, d = markov_model()
    generator = ReleaseBeamSearch([model], d, beam_size=beam, alpha=alpha, max_len_b=10, **options)
    sample = {"id": torch.tensor([0]), "net_input": {"src_tokens": torch.zeros(1, 0, dtype=torch.long)}}
    return generator.generate([model], sample)[0]


def test_a_finished_hypothesis_keeps_its_place_in_the_beam():
    """Beam 2, alpha 1 (penalty (5 + len) / 6), eos forbidden at the first step (min length 1).

    length 1: a -0.511, b -0.916 (penalty 1)                                   beam: a, b
    length 2 (penalty 7/6): a</s> -1.204/(7/6) = -1.032, ba -1.609/(7/6) = -1.380, aa -1.715/(7/6) = -1.470,
              bb -1.833/(7/6) = -1.571                                            beam: a</s> (finished), ba
    length 3 (penalty 8/6): a</s> stays at -1.032; ba</s> -2.303/(8/6) = -1.727, baa -2.813/(8/6) = -2.110
                                                                                 beam: a</s>, ba</s>: all finished
    fairseq's search would have kept two live hypotheses beside the finished one; here aa never continues.
    """
    hypos = search()
    assert [h["tokens"].tolist() for h in hypos] == [[A, EOS], [B, A, EOS]]
    want_a = (math.log(0.6) + math.log(0.5)) / (7 / 6)
    want_ba = (math.log(0.4) + math.log(0.5) + math.log(0.5)) / (8 / 6)
    assert float(hypos[0]["score"]) == pytest.approx(want_a, abs=1e-6)
    assert float(hypos[1]["score"]) == pytest.approx(want_ba, abs=1e-6)
    torch.testing.assert_close(hypos[1]["positional_scores"], torch.tensor([math.log(0.4), math.log(0.5), math.log(0.5)]))


def test_alpha_changes_which_length_wins():
    """alpha 0: no penalty, the most probable sequence wins; a large alpha favours the longer one."""
    assert search(alpha=0.0)[0]["tokens"].tolist() == [A, EOS]
    long = search(alpha=8.0, beam=3)
    assert long[0]["tokens"].tolist()[-1] == EOS and len(long[0]["tokens"]) > 2
    assert gnmt_length_penalty(1, 0.6) == pytest.approx(1.0) and gnmt_length_penalty(7, 0.6) == pytest.approx(2 ** 0.6)


def test_min_len_and_max_len():
    assert all(len(h["tokens"]) >= 3 for h in search(min_len=2))
    unfinished = search(max_len_a=0, beam=1, min_len=5)  # max_len_b 10: eos only from the 6th token
    assert unfinished[0]["tokens"].tolist()[-1] == EOS and len(unfinished[0]["tokens"]) == 6


def test_word_trigram_blocking_joins_pieces_into_words():
    # tokens 4.. : "the" (word start), "cat" (start), "s" (continues a word)
    starts = torch.tensor([True, True, True, True, True, True, False])
    trigrams = WordTrigrams(starts)
    assert trigrams.words([4, 5, 6, 4]) == [(4,), (5, 6), (4,)]
    # "the cats the cats": another "the" would repeat "the cats the"; "s" joins "cats" into "catss", a new word
    assert trigrams.blocked([4, 5, 6, 4, 5, 6], [4, 5, 6]) == [True, False, False]
    # "the cats the cats the cat": "s" completes "cats", repeating "cats the cats"; "the" makes "the cat the"
    assert trigrams.blocked([4, 5, 6, 4, 5, 6, 4, 5], [6, 4]) == [True, False]
    assert trigrams.blocked([4, 5], [4, 5, 6]) == [False, False, False]


def repeats_a_word_trigram(tokens):
    grams = [tuple(tokens[i:i + 3]) for i in range(len(tokens) - 2)]
    return len(grams) != len(set(grams))


def test_blocking_inside_the_search():
    """a -> b (0.9); b -> a (0.6) or c (0.3): unblocked, the beam keeps 'a b a b a ...'; blocked, a
    repeated trigram (every symbol a word here) scores -65000, so the beam turns to c."""
    saved = dict(NEXT)
    NEXT[A], NEXT[B], NEXT[C] = {B: 0.9, EOS: 0.1}, {A: 0.6, C: 0.3, EOS: 0.1}, {EOS: 0.5, A: 0.5}
    try:
        free = search(beam=2, min_len=5)
        blocked = search(beam=2, min_len=5, word_trigrams=WordTrigrams(torch.ones(7, dtype=torch.bool)))
        assert repeats_a_word_trigram(free[0]["tokens"].tolist())
        best = blocked[0]["tokens"].tolist()
        assert not repeats_a_word_trigram(best) and C in best and float(blocked[0]["score"]) > -1000
        assert all(float(h["score"]) < -1000 for h in blocked if repeats_a_word_trigram(h["tokens"].tolist()))
    finally:
        NEXT.clear()
        NEXT.update(saved)
