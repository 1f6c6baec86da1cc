"""No sample is dropped by batching, whatever --required-batch-size-multiple is."""
import numpy as np
import pytest
from fairseq.data import FairseqDataset

from unimo_plugin.data.batching import KeepsLastBatch


class Sized(KeepsLastBatch, FairseqDataset):
    def __init__(self, sizes):
        self.sizes = np.asarray(sizes)

    def __len__(self):
        return len(self.sizes)

    def num_tokens(self, index):
        return int(self.sizes[index])


@pytest.mark.parametrize("count,multiple,max_sentences", [(6, 8, 16), (21, 8, 8), (17, 4, 10), (5, 1, 2)])
def test_every_index_is_batched_once(count, multiple, max_sentences):
    dataset = Sized(np.arange(count) % 5 + 3)
    indices = np.arange(count)[::-1].copy()
    batches = dataset.batch_by_size(indices, max_sentences=max_sentences, required_batch_size_multiple=multiple)
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(count))
    assert all(len(b) <= max_sentences for b in batches)
    # batches except the last keep fairseq's multiple
    assert all(len(b) % multiple == 0 for b in batches[:-1])
