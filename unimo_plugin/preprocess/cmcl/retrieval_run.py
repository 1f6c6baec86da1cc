"""A CMCL retrieval over a caption split (TF-IDF negatives, retrieved images, retrieved texts) as one
sharded run (``common/sharded_run.py``): shard K of N retrieves for a contiguous range of the captions
into a cmcl_raw file (``formats/cmcl_candidates.py``), and the merge concatenates the files, each
checked against its captions, with the statistics of what was found."""
import os
import time
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from ...common.sharded_run import ShardedRun, ShardResult
from ...formats.caption_sets import captions_path, read_caption_records
from ...formats.cmcl_candidates import cmcl_raw_path, concatenate_cmcl_raw, write_cmcl_raw

# retrieve(captions, start, end) -> (items of captions[start:end], statistics of its own)
Retrieve = Callable[[List[Dict[str, str]], int, int], Tuple[List[List[dict]], Dict[str, Any]]]


def counts_and_scores(items):
    """Items per caption and all scores, as arrays."""
    return (np.array([len(caption_items) for caption_items in items], np.int64),
            np.array([item["score"] for caption_items in items for item in caption_items], np.float64))


def item_statistics(counts, scores, k):
    """What a retrieval output holds: counts of items per caption, score quantiles."""
    quantiles = np.round(np.quantile(scores, [0, 0.5, 1]), 4).tolist() if len(scores) else [None] * 3
    return {"captions": len(counts), "items": int(counts.sum()),
            "items_per_caption": round(float(counts.mean()), 3) if len(counts) else 0.0,
            "captions_without_items": int((counts == 0).sum()),
            f"captions_with_fewer_than_{k}": int((counts < k).sum()),
            "score_min_median_max": quantiles,
            "score_mean": round(float(scores.mean()), 4) if len(scores) else None}


class _RetrievalRun(ShardedRun):
    def __init__(self, pairs_dir, split, output, what, field, retrieve, options, inputs, num_shards):
        self.captions = read_caption_records(pairs_dir, split)
        inputs = dict(inputs, captions=[captions_path(pairs_dir, split)])
        super().__init__(output, options, inputs, num_shards)
        self.what, self.field, self.retrieve, self.k = what, field, retrieve, options["per_caption"]
        self.source = dict(pairs=os.path.abspath(pairs_dir), split=split)

    def count_items(self):
        return len(self.captions)

    def write_shard(self, shard, progress):
        t0 = time.time()
        items, own = self.retrieve(self.captions, shard.start, shard.end)
        statistics = dict(item_statistics(*counts_and_scores(items), self.k), **own,
                          seconds=round(time.time() - t0, 1))
        write_cmcl_raw(shard.output, self.captions[shard.start:shard.end], items, self.what, **self.source)
        return statistics

    def concatenate(self, shards, output):
        counts, scores = [], []

        def inspect(items):
            shard_counts, shard_scores = counts_and_scores(items)
            counts.append(shard_counts)
            scores.append(shard_scores)

        concatenate_cmcl_raw([(s.output, s.start, s.end) for s in shards], output, self.captions, self.field,
                             self.what, inspect, **self.source)
        return item_statistics(np.concatenate(counts), np.concatenate(scores), self.k)


def retrieve_split(pairs_dir: str, split: str, what: str, field: str, retrieve: Retrieve,
                   options: Mapping[str, Any], inputs: Optional[Mapping[str, Sequence[str]]] = None,
                   output: Optional[str] = None, num_shards: int = 1, shard_id: int = 0,
                   merge: bool = False) -> ShardResult:
    """Retrieve shard ``shard_id`` of ``num_shards`` of the captions of ``PAIRS/{split}`` into ``output``
    (default ``PAIRS/{split}.cmcl_raw.<what>.jsonl``), or with ``merge`` only join the complete shards.

    ``retrieve`` gives the items (each with ``field`` and a ``score``) of a range of captions;
    ``options`` (with ``per_caption``) shape the result and ``inputs`` (name -> paths) are the files it
    reads besides the captions: both are recorded, and shards made otherwise are refused.
    """
    if merge and num_shards == 1:
        raise ValueError("--merge joins the shards of a run with --num-shards > 1")
    run = _RetrievalRun(pairs_dir, split, output or cmcl_raw_path(pairs_dir, split, what), what, field, retrieve,
                        options, inputs or {}, num_shards)
    return run.run([] if merge else [shard_id], merge=merge)[-1]
