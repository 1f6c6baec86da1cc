"""Batching that never drops samples.

fairseq 0.12's ``data_utils.batch_by_size`` drops a last batch whose size is not a multiple of
``--required-batch-size-multiple`` (8 by default), so validation, ``fairseq-generate`` and evaluation
would silently skip up to 7 samples of a split (all of a split smaller than 8).
"""
from typing import List, Optional

import numpy as np


class KeepsLastBatch:
    """Mixin for a ``FairseqDataset``: the dropped tail comes back as a final, smaller batch."""

    def batch_by_size(self, indices: np.ndarray, max_tokens: Optional[int] = None, max_sentences: Optional[int] = None,
                      required_batch_size_multiple: int = 1) -> List[np.ndarray]:
        batches = super().batch_by_size(indices, max_tokens, max_sentences, required_batch_size_multiple)
        kept = sum(len(batch) for batch in batches)
        if kept < len(indices):  # batches are consecutive runs of ``indices``: the tail is what was dropped
            batches = list(batches) + [indices[kept:]]
        return batches
