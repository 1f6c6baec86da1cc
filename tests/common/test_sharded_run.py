"""The one sharded, resumable, mergeable run every pipeline uses (common/sharded_run.py), tested once with
a toy pipeline: a killed run resumes to the uninterrupted result, and shards made otherwise, from other
inputs or missing are refused, naming the shard. Each pipeline's own test shows that it uses this run.

Run as a script (``OUTPUT INPUT KILL_AT``), it runs the toy pipeline and kills itself mid-shard."""
import os
import signal
import subprocess
import sys

import pytest

from unimo_plugin.common.artifacts import atomic_output, is_complete, read_manifest, write_manifest
from unimo_plugin.common.sharded_run import ShardedRun, fingerprint, progress_bar, sum_stats
from unimo_plugin.common.text_files import count_lines, iter_lines

LINES = [f"line {i} of the toy corpus" for i in range(10)]


class ShoutRun(ShardedRun):
    """Toy pipeline: each line of a text file upper-cased with a suffix; ``fail`` (shard id -> how)
    stops a shard half-written, by an exception or by killing the process."""

    def __init__(self, output, path, suffix="!", num_shards=1, fail=None, with_reference=True):
        super().__init__(output, {"suffix": suffix} if with_reference else None,
                         {"text": [path]} if with_reference else None, num_shards)
        self.path, self.suffix, self.fail = path, suffix, fail or {}

    def count_items(self):
        return count_lines(self.path)

    def write_shard(self, shard, progress):
        with atomic_output(shard.output) as tmp, open(tmp, "w") as f, \
                progress_bar(shard.end - shard.start, shard.output, "line", progress) as bar:
            for i, (_, line) in enumerate(iter_lines(self.path, shard.start, shard.end)):
                f.write(line.upper() + self.suffix + "\n")
                f.flush()
                bar.update(1)
                if i == 1 and self.fail.get(shard.shard_id) == "raise":
                    raise RuntimeError("interrupted")
                if i == 1 and self.fail.get(shard.shard_id) == "kill":
                    os.kill(os.getpid(), signal.SIGKILL)
        write_manifest(shard.output, "toy", lines=shard.end - shard.start)
        return {"lines": shard.end - shard.start, "first": [shard.start]}

    def concatenate(self, shards, output):
        with atomic_output(output) as tmp, open(tmp, "w") as out:
            for shard in shards:
                with open(shard.output) as f:
                    out.write(f.read())
        write_manifest(output, "toy", lines=shards[-1].end)


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("".join(line + "\n" for line in LINES))
    return str(path)


def shards_of(output, n):
    return [f"{output}.shard{k}-of-{n}" for k in range(n)]


@pytest.mark.slow  # the killed run is a subprocess
def test_killed_or_failed_run_resumes_to_the_uninterrupted_result(corpus, tmp_path):
    whole = str(tmp_path / "whole.txt")
    assert [r.stats for r in ShoutRun(whole, corpus).run()] == [{"lines": 10, "first": [0]}]
    merged = str(tmp_path / "merged.txt")
    results = ShoutRun(merged, corpus, num_shards=4).run(merge=True, progress=False)
    assert [r.output for r in results] == shards_of(merged, 4) + [merged]
    assert open(merged).read() == open(whole).read()
    assert read_manifest(merged)["run"]["stats"] == {"lines": 10, "first": [0, 3, 6, 9]}

    for how in ("kill", "raise"):
        out = str(tmp_path / f"{how}.txt")
        if how == "kill":  # a process killed in the middle of shard 2, after shards 0 and 1
            proc = subprocess.run([sys.executable, __file__, out, corpus, "2"], capture_output=True, text=True)
            assert proc.returncode == -signal.SIGKILL, proc.stderr
        else:
            with pytest.raises(RuntimeError, match="interrupted"):
                ShoutRun(out, corpus, num_shards=4, fail={2: "raise"}).run(merge=True, progress=False)
        done = [is_complete(path) for path in shards_of(out, 4)]
        assert done == [True, True, False, False] and not os.path.exists(out)
        stamps = [os.stat(path).st_mtime_ns for path in shards_of(out, 4)[:2]]
        results = ShoutRun(out, corpus, num_shards=4).run(merge=True, progress=False)
        assert [(r.skipped, r.merged_shards) for r in results] == [(True, 0)] * 2 + [(False, 0)] * 2 + [(False, 4)]
        assert [os.stat(path).st_mtime_ns for path in shards_of(out, 4)[:2]] == stamps  # not redone
        assert open(out).read() == open(merged).read()
        assert read_manifest(out)["run"]["stats"] == read_manifest(merged)["run"]["stats"]
        # Complete: a rerun does nothing; a merge alone (no options, no inputs) finds it complete too.
        assert all(r.skipped for r in ShoutRun(out, corpus, num_shards=4).run(merge=True, progress=False))
        merge_alone = ShoutRun(out, corpus, num_shards=4, with_reference=False).run(shard_ids=[], merge=True)
        assert [r.skipped for r in merge_alone] == [True]


def test_mismatched_or_missing_shards_are_refused_naming_the_shard(corpus, tmp_path):
    out = str(tmp_path / "out.txt")
    shards = shards_of(out, 3)
    ShoutRun(out, corpus, num_shards=3).run(shard_ids=[0, 2], progress=False)
    with pytest.raises(ValueError, match=f"cannot merge into {out}: 1 of 3 shard\\(s\\) not complete: {shards[1]}$"):
        ShoutRun(out, corpus, num_shards=3).run(shard_ids=[], merge=True)

    ShoutRun(out, corpus, suffix="?", num_shards=3).run(shard_ids=[1], progress=False)  # other options
    with pytest.raises(ValueError, match=f"{shards[0]} is complete but was made with other option suffix: \"!\", "
                                         f"this run \"\\?\".*--overwrite"):
        ShoutRun(out, corpus, suffix="?", num_shards=3).run(progress=False)
    with pytest.raises(ValueError, match=f"cannot merge into {out}: shard {shards[1]} was made with other option "
                                         f"suffix: \"\\?\", this run \"!\""):
        ShoutRun(out, corpus, num_shards=3).run(shard_ids=[], merge=True)
    with pytest.raises(ValueError, match=f"shard {shards[1]} was made with other option suffix: \"\\?\", "
                                         f"{shards[0]} \"!\""):  # a merge on its own compares with shard 0
        ShoutRun(out, corpus, num_shards=3, with_reference=False).run(shard_ids=[], merge=True)
    ShoutRun(out, corpus, num_shards=3).run(shard_ids=[1], overwrite=True, progress=False)
    ShoutRun(out, corpus, num_shards=3).run(shard_ids=[], merge=True)

    size = os.path.getsize(corpus)
    with open(corpus, "a") as f:  # other inputs: the corpus grew
        f.write("one more line\n")
    for run, where in ((lambda: ShoutRun(out, corpus, num_shards=3).run(progress=False),
                        f"{shards[0]} is complete but"),
                       (lambda: ShoutRun(out, corpus, num_shards=3).run(shard_ids=[], merge=True),
                        f"cannot merge into {out}: shard {shards[0]}")):
        with pytest.raises(ValueError, match=f"{where} .*made with other inputs text: 1 file\\(s\\) of {size} bytes "
                                             f".*, this run 1 file\\(s\\) of {size + 14} bytes"):
            run()
    results = ShoutRun(out, corpus, num_shards=3).run(merge=True, overwrite=True, progress=False)
    assert [r.skipped for r in results] == [False] * 4 and open(out).read().count("\n") == 11


def test_merge_is_redone_when_a_shard_changes(corpus, tmp_path):
    out = str(tmp_path / "out.txt")
    ShoutRun(out, corpus, num_shards=2).run(merge=True, progress=False)
    ShoutRun(out, corpus, num_shards=2).run(shard_ids=[1], overwrite=True, progress=False)  # e.g. on another machine
    results = ShoutRun(out, corpus, num_shards=2).run(merge=True, progress=False)
    assert [r.skipped for r in results] == [True, True, False]


def test_fingerprint_and_sum_stats(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a").write_text("12")
    (tmp_path / "d" / "b").write_text("345")
    first = fingerprint({"folder": [tmp_path / "d"]})
    assert first["folder"]["files"] == 2 and first["folder"]["bytes"] == 5
    os.utime(tmp_path / "d" / "a", ns=(0, 0))
    assert fingerprint({"folder": [tmp_path / "d"]})["folder"]["digest"] != first["folder"]["digest"]
    assert sum_stats([{"n": 1, "by": {"x": 2}, "examples": ["a"], "name": "s0"},
                      {"n": 2, "by": {"x": 1, "y": 1}, "examples": ["b"], "name": "s1"}]) == \
        {"n": 3, "by": {"x": 3, "y": 1}, "examples": ["a", "b"], "name": "s0"}


if __name__ == "__main__":
    output, path, kill_at = sys.argv[1:]
    ShoutRun(output, path, num_shards=4, fail={int(kill_at): "kill"}).run(merge=True, progress=False)
