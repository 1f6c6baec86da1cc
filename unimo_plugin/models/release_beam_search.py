"""Beam search as the official UNIMO release decodes (its Paddle ``beam_search`` op), for fairseq-generate.

At every step each live hypothesis proposes its ``beam`` most probable next tokens; a candidate's score
is its summed log probability divided by the GNMT length penalty ((5 + length) / 6) ** alpha of its own
length, and a finished hypothesis stays in the beam as one candidate at the score it finished with, so
finished and live hypotheses of different lengths compete for the ``beam`` places at every step (fairseq's
search sets finished hypotheses aside and normalises only at the end). Decoding stops when every
hypothesis of every sentence has finished, or at the maximum length; the best hypothesis has the highest
score. Optionally, a candidate that repeats a trigram of *words* (BPE pieces joined into words, a word
starting at a piece that begins with a space) is blocked with the release's -65000, as for CNN/DM.

It decodes through fairseq's ``EnsembleModel`` (the model's cached encoder/decoder views) and returns
fairseq's hypothesis dicts, so ``fairseq-generate``, ``fairseq-interactive`` and the hub print and score
its output unchanged. Sampling and other search strategies stay with fairseq's ``SequenceGenerator``.
"""
import math
from typing import Dict, List, Optional, Sequence

import torch
from fairseq.sequence_generator import EnsembleModel
from torch import nn

BLOCKED = -65000.0  # the release's trigram-blocking delta (fp16's lowest is -65504)


def gnmt_length_penalty(length: int, alpha: float) -> float:
    return ((5.0 + length) / 6.0) ** alpha


class WordTrigrams:
    """The release's word-level trigram blocking: ``word_starts[t]`` says whether token t begins a word."""

    def __init__(self, word_starts: torch.Tensor):
        self.word_starts = word_starts.tolist()

    def words(self, tokens: Sequence[int]) -> List[tuple]:
        words = []
        for token in tokens:
            if self.word_starts[token] or not words:
                words.append((token,))
            else:
                words[-1] = words[-1] + (token,)
        return words

    @staticmethod
    def trigrams(words: List[tuple]) -> set:
        return {tuple(words[end - 3:end]) for end in range(3, len(words) + 1)}

    def blocked(self, prefix: Sequence[int], candidates: Sequence[int]) -> List[bool]:
        """For each candidate next token, whether the prefix plus it ends in a word trigram it already holds."""
        words = self.words(prefix)
        if not words:
            return [False] * len(candidates)
        new_word_seen, same_word_seen = self.trigrams(words), self.trigrams(words[:-1])
        out = []
        for token in candidates:
            if self.word_starts[token]:  # a new word: earlier trigrams are all the prefix's
                last = tuple(words[-2:]) + ((token,),) if len(words) >= 2 else None
                out.append(last is not None and last in new_word_seen)
            else:  # the last word grows: earlier trigrams are those before it
                last = tuple(words[-3:-1]) + (words[-1] + (token,),) if len(words) >= 3 else None
                out.append(last is not None and last in same_word_seen)
        return out


class ReleaseBeamSearch(nn.Module):
    def __init__(self, models, tgt_dict, beam_size: int = 5, alpha: float = 0.6, max_len_a: float = 0,
                 max_len_b: int = 200, min_len: int = 1, bos: Optional[int] = None, eos: Optional[int] = None,
                 word_trigrams: Optional[WordTrigrams] = None):
        super().__init__()
        self.model = models if isinstance(models, EnsembleModel) else EnsembleModel(models)
        self.beam_size, self.alpha = beam_size, alpha
        self.max_len_a, self.max_len_b, self.min_len = max_len_a, max_len_b, min_len
        self.pad = tgt_dict.pad()
        self.bos = tgt_dict.bos() if bos is None else bos
        self.eos = tgt_dict.eos() if eos is None else eos
        self.vocab_size = len(tgt_dict)
        self.word_trigrams = word_trigrams
        self.symbols_to_strip_from_output = {self.bos, self.eos}

    def cuda(self):
        self.model.cuda()
        return self

    @torch.no_grad()
    def generate(self, models, sample: Dict, prefix_tokens=None, constraints=None, bos_token=None, **unused):
        if prefix_tokens is not None or constraints is not None:
            raise ValueError("the release's beam search takes no prefix tokens or constraints: use --beam-search fairseq")
        net_input = sample["net_input"]
        src_tokens = net_input["src_tokens"]
        bsz, beam = src_tokens.size(0), self.beam_size
        src_len = int(src_tokens.ne(self.pad).sum(1).max()) if src_tokens.numel() else 0
        max_len = min(int(self.max_len_a * src_len + self.max_len_b), self.model.max_decoder_positions() - 1)
        if max_len < self.min_len:
            raise ValueError(f"--min-len {self.min_len} exceeds the maximum length {max_len}")
        device = src_tokens.device
        self.model.eval()
        encoder_outs = self.model.forward_encoder(net_input)
        order = torch.arange(bsz, device=device).repeat_interleave(beam)
        encoder_outs = self.model.reorder_encoder_out(encoder_outs, order)
        states = [{} for _ in range(self.model.models_size)]

        rows = bsz * beam
        tokens = torch.full((rows, max_len + 1), self.pad, dtype=torch.long, device=device)
        tokens[:, 0] = self.bos if bos_token is None else bos_token
        summed = torch.zeros(rows, device=device)  # log probability, without the penalty
        summed.view(bsz, beam)[:, 1:] = -math.inf  # one live hypothesis per sentence at first
        score = torch.zeros(rows, device=device)  # with the penalty of its length
        finished = torch.zeros(rows, dtype=torch.bool, device=device)
        lengths = torch.zeros(rows, dtype=torch.long, device=device)
        token_scores = torch.zeros(rows, max_len, device=device)
        offsets = (torch.arange(bsz, device=device) * beam)[:, None]
        for step in range(max_len):
            lprobs, _ = self.model.forward_decoder(tokens[:, :step + 1], encoder_outs, states)
            lprobs = lprobs.float()
            lprobs[lprobs != lprobs] = -math.inf  # NaN, as fairseq's SequenceGenerator does
            lprobs[:, self.pad] = -math.inf
            if step < self.min_len:
                lprobs[:, self.eos] = -math.inf
            top_lprobs, top_tokens = lprobs.topk(beam, dim=1)  # (rows, beam)
            candidates = summed[:, None] + top_lprobs
            if self.word_trigrams is not None:
                candidates = candidates + self._blocking(tokens[:, 1:step + 1], top_tokens, finished)
            scores = candidates / gnmt_length_penalty(step + 1, self.alpha)
            # a finished hypothesis is one candidate, at its own score
            scores[finished] = -math.inf
            scores[finished, 0] = score[finished]
            best, index = scores.view(bsz, beam * beam).topk(beam, dim=1)
            parent = (index // beam + offsets).view(-1)
            choice = (index % beam).view(-1)
            was_finished = finished[parent]
            new_tokens = torch.where(was_finished, torch.full_like(choice, self.pad), top_tokens[parent, choice])
            tokens = tokens[parent]
            tokens[:, step + 1] = new_tokens
            token_scores = token_scores[parent]
            token_scores[:, step] = torch.where(was_finished, torch.zeros_like(best.view(-1)),
                                                top_lprobs[parent, choice])
            summed = torch.where(was_finished, summed[parent], candidates[parent, choice])
            score = best.view(-1)
            lengths = torch.where(was_finished, lengths[parent], torch.full_like(lengths, step + 1))
            finished = was_finished | new_tokens.eq(self.eos)
            self.model.reorder_incremental_state(states, parent)
            encoder_outs = self.model.reorder_encoder_out(encoder_outs, parent)
            if bool(finished.all()):
                break
        return self._hypotheses(tokens, score, lengths, token_scores, bsz)

    def _blocking(self, prefixes: torch.Tensor, candidates: torch.Tensor, finished: torch.Tensor) -> torch.Tensor:
        delta = torch.zeros(candidates.shape, device=candidates.device)
        for row, (prefix, row_candidates) in enumerate(zip(prefixes.tolist(), candidates.tolist())):
            if not finished[row]:
                blocked = self.word_trigrams.blocked(prefix, row_candidates)
                delta[row] = torch.tensor([BLOCKED if b else 0.0 for b in blocked])
        return delta

    def _hypotheses(self, tokens, score, lengths, token_scores, bsz):
        out = []
        for sentence in range(bsz):
            rows = range(sentence * self.beam_size, (sentence + 1) * self.beam_size)
            hypos = [{"tokens": tokens[r, 1:int(lengths[r]) + 1], "score": score[r],
                      "positional_scores": token_scores[r, :int(lengths[r])], "attention": None,
                      "alignment": torch.empty(0)} for r in rows if score[r] > -math.inf]
            out.append(sorted(hypos, key=lambda h: -float(h["score"])))
        return out
