"""What the sharded runs that write region stores (import, extraction) share on top of
``common/sharded_run.py``: shards are stores, merged by block copies, with the counts a script prints."""
from ...common.artifacts import InputError
from ...common.sharded_run import ShardedRun, progress_bar
from ...formats.region_store import RegionStoreWriter, merge_region_stores

_MAX_REPORTED = 10  # bad items quoted per shard under skip_bad


class RegionStoreRun(ShardedRun):
    """A run whose outputs are region stores: subclasses give ``count_items`` and ``regions(shard)``, the
    ``(path, line, record or error message)`` of each of the shard's items, and the store's arguments."""

    skip_bad = False
    unit = "img"

    def store_args(self):
        raise NotImplementedError

    def regions(self, shard):
        raise NotImplementedError

    def write_shard(self, shard, progress):
        stats = {"images": 0, "boxes": 0, "bad": 0, "bad_examples": []}
        with RegionStoreWriter(shard.output, **self.store_args()) as writer, \
                progress_bar(shard.end - shard.start, shard.output, self.unit, progress) as bar:
            for path, line, record in self.regions(shard):
                bar.update(1)
                if record is None:  # a blank line
                    continue
                error = None
                if isinstance(record, str):
                    error = InputError(path, record, line)
                else:
                    try:
                        writer.add(*record)
                        stats["images"], stats["boxes"] = stats["images"] + 1, stats["boxes"] + len(record[3])
                    except ValueError as e:  # e.g. features beyond the float16 range
                        error = InputError(path, str(e), line)
                if error is not None:
                    if not self.skip_bad:
                        raise error
                    stats["bad"] += 1
                    if len(stats["bad_examples"]) < _MAX_REPORTED:
                        stats["bad_examples"].append(str(error))
        return stats

    def concatenate(self, shards, output):
        merge_region_stores([s.output for s in shards], output)


def print_shard_results(results, bad_label="bad"):
    """One summary line per output, with the first bad inputs of each."""
    for r in results:
        if r.skipped:
            print(f"{r.output}: already complete, skipped")
            continue
        images, boxes, bad = r.stats["images"], r.stats["boxes"], r.stats["bad"]
        mean = boxes / images if images else 0.0
        if r.merged_shards:
            print(f"{r.output}: merged {r.merged_shards} shards: {images} images, {boxes} boxes "
                  f"({mean:.1f}/image), {r.seconds:.1f}s")
            continue
        rate = images / r.seconds if r.seconds else 0.0
        print(f"{r.output}: {images} images, {boxes} boxes ({mean:.1f}/image), "
              f"{bad} {bad_label} skipped, {r.seconds:.1f}s ({rate:.2f} images/s)")
        for example in r.stats["bad_examples"]:
            print(f"  bad: {example}")
        if bad > len(r.stats["bad_examples"]):
            print(f"  ... and {bad - len(r.stats['bad_examples'])} more")
