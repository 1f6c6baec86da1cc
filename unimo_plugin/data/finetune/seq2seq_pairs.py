"""Text-to-text samples (``unimo_seq2seq``): fairseq's language pairs, every sample batched."""
from typing import Any, Dict, List, Optional

from fairseq.data import LanguagePairDataset

from ..batching import KeepsLastBatch


class Seq2seqPairDataset(KeepsLastBatch, LanguagePairDataset):
    """fairseq's language-pair dataset (source and target share the dictionary), every sample batched.

    Targets end with ``eos`` (``</s>``, or the official release's ``<mask>``); the decoder's input is the
    target shifted right after ``decoder_start`` (default: ``eos``, fairseq's; the release's ``<s>``)."""

    def __init__(self, *args, decoder_start: Optional[int] = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.decoder_start = decoder_start

    def collater(self, samples: List[Dict[str, Any]], pad_to_length=None) -> Dict[str, Any]:
        batch = super().collater(samples, pad_to_length)
        previous = batch.get("net_input", {}).get("prev_output_tokens")
        if previous is not None and self.decoder_start is not None:
            previous[:, 0] = self.decoder_start  # fairseq put the target's last symbol there
        return batch
