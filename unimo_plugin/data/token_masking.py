"""Per-sample text objectives: BERT masking and the UniLM seq2seq fragment split.

Both return the model input and, per input position, the token to predict there (``pad``
where nothing is predicted), so one forward pass can mix masked-LM and seq2seq samples.
"""
from typing import Optional, Tuple

import numpy as np
import torch
from fairseq.data import Dictionary


def mask_tokens(tokens: torch.Tensor, rng: np.random.Generator, dictionary: Dictionary, mask_idx: int,
                mask_prob: float = 0.15, leave_unmasked_prob: float = 0.1,
                random_token_prob: float = 0.1) -> Tuple[torch.Tensor, torch.Tensor]:
    """BERT masking of the non-special tokens: of the chosen ``mask_prob``, 80% become ``<mask>``,
    ``random_token_prob`` a random word and ``leave_unmasked_prob`` stay. At least one token is chosen."""
    pad = dictionary.pad()
    candidates = np.flatnonzero(tokens.numpy() >= dictionary.nspecial)
    candidates = candidates[tokens.numpy()[candidates] != mask_idx]
    targets = torch.full_like(tokens, pad)
    if len(candidates) == 0:
        return tokens.clone(), targets
    num = max(1, int(round(mask_prob * len(candidates) + rng.random() - 0.5)))
    chosen = rng.choice(candidates, size=min(num, len(candidates)), replace=False)
    targets[chosen] = tokens[chosen]
    out = tokens.clone()
    fate = rng.random(len(chosen))
    random_words = torch.from_numpy(rng.integers(dictionary.nspecial, mask_idx, size=len(chosen)))
    to_mask = fate >= leave_unmasked_prob + random_token_prob
    to_random = (fate >= leave_unmasked_prob) & ~to_mask
    out[chosen[to_mask]] = mask_idx
    out[chosen[to_random]] = random_words[torch.from_numpy(to_random)].to(out.dtype)
    return out, targets


def seq2seq_example(source: torch.Tensor, target: torch.Tensor,
                    dictionary: Dictionary) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Input ``source + [</s>] + target`` with the target part causal; predicts ``target + [</s>]``.

    ``source`` already ends in ``</s>`` (or is empty, e.g. image -> caption) and ``target`` is the
    bare target (no ``</s>``). Like fairseq's ``prev_output_tokens``, the decoder part starts with ``</s>``.
    """
    eos, pad = dictionary.eos(), dictionary.pad()
    decoder_input = torch.cat([target.new_tensor([eos]), target])
    tokens = torch.cat([source, decoder_input])
    targets = torch.cat([torch.full_like(source, pad), target, target.new_tensor([eos])])
    target_mask = torch.zeros(len(tokens), dtype=torch.bool)
    target_mask[len(source):] = True
    return tokens, targets, target_mask


def split_fragment(tokens: torch.Tensor, rng: np.random.Generator, fragment_ratio: float,
                   dictionary: Dictionary) -> Optional[Tuple[torch.Tensor, torch.Tensor]]:
    """Cut a random contiguous fragment of about ``fragment_ratio`` of the words out of
    ``<s> w.. </s>``: returns (source = the rest, still ``<s> .. </s>``, target fragment)."""
    words = np.flatnonzero(tokens.numpy() >= dictionary.nspecial)
    if len(words) < 2:
        return None
    first, last = words[0], words[-1] + 1
    length = min(max(1, int(round(fragment_ratio * (last - first)))), last - first - 1)
    start = int(rng.integers(first, last - length + 1))
    return torch.cat([tokens[:start], tokens[start + length:]]), tokens[start:start + length]
