"""fairseq mmap token datasets (``PREFIX.bin/.idx``) written exactly as ``fairseq-preprocess`` writes
them, but atomically, in parallel, with progress, and mergeable from shards."""
import os
from typing import Any, Dict, Iterable, Optional, Sequence

import numpy as np
import torch
from fairseq.binarizer import BinarizeSummary
from fairseq.data.indexed_dataset import (
    MMapIndexedDataset,
    MMapIndexedDatasetBuilder,
    data_file_path,
    index_file_path,
    make_builder,
)
from tqdm import tqdm

from ..common.artifacts import PathLike, atomic_output
from ..common.parallel import batched, ordered_map

_binarizer = None


def _set_binarizer(binarizer):
    global _binarizer
    _binarizer = binarizer


def _binarize_batch(texts):
    summary = BinarizeSummary()
    return [_binarizer.binarize_line(text, summary).numpy() for text in texts], summary


def write_token_dataset(prefix: PathLike, texts: Iterable[str], binarizer: Any, vocab_size: int, workers: int = 1,
                        total: Optional[int] = None, desc: Optional[str] = None) -> BinarizeSummary:
    """Binarize ``texts`` (one item each) with a fairseq ``Binarizer`` into ``prefix.bin/.idx``.

    The element dtype follows ``vocab_size`` as in fairseq-preprocess. Returns the ``BinarizeSummary``.
    """
    summary = BinarizeSummary()
    os.makedirs(os.path.dirname(os.path.abspath(prefix)), exist_ok=True)
    with atomic_output(data_file_path(prefix)) as tmp_bin, atomic_output(index_file_path(prefix)) as tmp_idx:
        builder = make_builder(tmp_bin, impl="mmap", vocab_size=vocab_size)
        results = ordered_map(_binarize_batch, batched(texts), workers,
                              initializer=_set_binarizer, initargs=(binarizer,))
        with tqdm(total=total, desc=desc, unit="item") as progress:
            for arrays, part in results:
                for ids in arrays:
                    builder.add_item(torch.from_numpy(ids))
                summary.merge(part)
                progress.update(len(arrays))
        builder.finalize(tmp_idx)
    return summary


def merge_token_datasets(parts: Sequence[PathLike], prefix: PathLike) -> None:
    """Concatenate the datasets at prefixes ``parts`` (in order) into ``prefix.bin/.idx``."""
    dtype = MMapIndexedDataset.Index(index_file_path(parts[0])).dtype
    with atomic_output(data_file_path(prefix)) as tmp_bin, atomic_output(index_file_path(prefix)) as tmp_idx:
        builder = MMapIndexedDatasetBuilder(tmp_bin, dtype=dtype)
        for part in tqdm(parts, desc=f"merge {prefix}", unit="shard"):
            builder.merge_file_(part)
        builder.finalize(tmp_idx)


def summary_fields(summary: BinarizeSummary) -> Dict[str, int]:
    """The counts of a ``BinarizeSummary`` as manifest fields."""
    return {"sequences": summary.num_seq, "tokens": summary.num_tok, "replaced_by_unk": summary.num_replaced}


def dataset_dtype(prefix: PathLike) -> str:
    """The element dtype name of a written dataset (uint16 below 65,500 symbols, as fairseq picks it)."""
    return np.dtype(MMapIndexedDataset.Index(index_file_path(prefix)).dtype).name
