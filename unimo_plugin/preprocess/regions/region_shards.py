"""Sharded runs that write region stores (import, extraction): per-shard results, the merge of the
shards into the final store, and the summary a script prints."""
import time
from dataclasses import dataclass, field
from typing import List

from ...common.artifacts import is_complete, shard_output
from ...formats.region_store import RegionStore, merge_region_stores


@dataclass
class ShardResult:
    """What one shard (or the unsharded output) of a run did."""

    output: str
    skipped: bool = False  # already complete: left as it was
    images: int = 0
    boxes: int = 0
    bad: int = 0
    bad_examples: List[str] = field(default_factory=list)
    seconds: float = 0.0
    merged_shards: int = 0  # > 0 for the merged output of a sharded run


def merge_shards(output, num_shards, results, overwrite=False):
    """Merge the complete shards of ``output`` into it; the result of the merge.

    An existing merged store is kept unless ``overwrite`` or a shard was rewritten in this run
    (``results``), which makes it stale.
    """
    shards = [shard_output(output, num_shards, k) for k in range(num_shards)]
    missing = [s for s in shards if not is_complete(s)]
    if missing:
        raise ValueError(f"cannot merge into {output}: {len(missing)} shard(s) not complete yet: "
                         + ", ".join(missing))
    rewritten = any(not r.skipped for r in results)
    merged = ShardResult(output, skipped=is_complete(output) and not (overwrite or rewritten),
                         merged_shards=num_shards)
    if not merged.skipped:
        t0 = time.time()
        merge_region_stores(shards, output)
        store = RegionStore(output)
        merged.images, merged.boxes, merged.seconds = len(store), int(store.num_boxes.sum()), time.time() - t0
    return merged


def print_shard_results(results, bad_label="bad"):
    """One summary line per output, with the first bad inputs of each."""
    for r in results:
        if r.skipped:
            print(f"{r.output}: already complete, skipped")
            continue
        mean = r.boxes / r.images if r.images else 0.0
        if r.merged_shards:
            print(f"{r.output}: merged {r.merged_shards} shards: {r.images} images, {r.boxes} boxes "
                  f"({mean:.1f}/image), {r.seconds:.1f}s")
            continue
        rate = r.images / r.seconds if r.seconds else 0.0
        print(f"{r.output}: {r.images} images, {r.boxes} boxes ({mean:.1f}/image), "
              f"{r.bad} {bad_label} skipped, {r.seconds:.1f}s ({rate:.2f} images/s)")
        for example in r.bad_examples:
            print(f"  bad: {example}")
        if r.bad > len(r.bad_examples):
            print(f"  ... and {r.bad - len(r.bad_examples)} more")

