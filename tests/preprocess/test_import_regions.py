"""The region importers, end to end through data_scripts/import_regions.py and through the library."""
import base64
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from unimo_plugin.cli.import_regions import get_parser, main
from unimo_plugin.common.artifacts import InputError, manifest_path
from unimo_plugin.formats.region_store import RegionStore
from unimo_plugin.preprocess.regions.region_import import import_regions
from unimo_plugin.testing.commands import REPO_ROOT

REPO = Path(REPO_ROOT)
SCRIPT = REPO / "data_scripts" / "import_regions.py"
DIM, CLASSES = 32, 9


def b64(array):
    return base64.b64encode(np.ascontiguousarray(array, "<f4").tobytes()).decode()


def make_images(n, seed=0, prefix="", with_cls=False):
    rng = np.random.default_rng(seed)
    images = []
    for i in range(n):
        k = int(rng.integers(1, 8))
        images.append(dict(
            image_id=f"{prefix}{1000 + i}", width=int(rng.integers(100, 1000)), height=int(rng.integers(100, 1000)),
            boxes=(rng.random((k, 4)) * 600).astype(np.float32),
            # Wide range and full float32 mantissas: only a bit-exact importer round-trips them.
            features=(rng.standard_normal((k, DIM)) * 10.0 ** rng.integers(-3, 4, (k, DIM))).astype(np.float32),
            cls_probs=rng.dirichlet(np.ones(CLASSES), size=k).astype(np.float32) if with_cls else None,
        ))
    return images


def tsv_line(image, fmt):
    fields = [image["image_id"], str(image["width"]), str(image["height"]), str(len(image["boxes"])),
              b64(image["boxes"]), b64(image["features"])]
    if fmt == "unimo_tsv":
        fields.append(b64(image["cls_probs"]))
    return "\t".join(fields)


def write_tsv(path, lines):
    Path(path).write_text("".join(line + "\n" for line in lines))
    return str(path)


def run_cli(*args, ok=True):
    proc = subprocess.run([sys.executable, str(SCRIPT), *map(str, args), "--no-progress"],
                          cwd=REPO, capture_output=True, text=True)
    assert (proc.returncode == 0) == ok, proc.stdout + proc.stderr
    return proc


def assert_store_equals(store, images, dtype):
    assert store.ids == [image["image_id"] for image in images]
    for row, image in enumerate(images):
        regions = store[row]
        assert (regions.width, regions.height) == (image["width"], image["height"])
        np.testing.assert_array_equal(regions.boxes, image["boxes"])
        assert regions.features.dtype == dtype
        np.testing.assert_array_equal(regions.features, image["features"].astype(dtype))
        if image["cls_probs"] is None:
            assert regions.cls_probs is None
        else:
            np.testing.assert_array_equal(regions.cls_probs, image["cls_probs"].astype(dtype))


def store_bytes(path):
    return {name: Path(path, name).read_bytes() for name in sorted(os.listdir(path))}


@pytest.mark.slow
def test_bua_tsv_cli_is_bit_exact_and_reports_skipped_lines(tmp_path):
    images, cases = make_images(30), bad_tsv_lines()
    lines = [tsv_line(images[0], "bua_tsv")]
    for (bad, _), image in zip(cases, images[1:]):
        lines += [bad, tsv_line(image, "bua_tsv")]
    # Two input files, read in order; the format is detected from the 6 columns.
    a = write_tsv(tmp_path / "a.tsv", lines)
    b = write_tsv(tmp_path / "b.tsv", [tsv_line(im, "bua_tsv") for im in images[len(cases) + 1:]])
    proc = run_cli(a, b, "-o", tmp_path / "store", "--feature-dim", DIM, "--dtype", "float32", "--skip-bad")
    assert "30 images" in proc.stdout and f"{len(cases)} bad skipped" in proc.stdout
    reported = [line for line in proc.stdout.splitlines() if line.startswith("  bad: ")]
    assert len(reported) == len(cases)
    for i, ((_, message), line) in enumerate(zip(cases, reported)):
        assert re.match(f"  bad: {a}:{2 * i + 2}: .*{message}", line), (message, line)
    store = RegionStore(tmp_path / "store")
    assert_store_equals(store, images, "float32")
    assert store.manifest["options"]["format"] == "bua_tsv" and store.manifest["source"] == [a, b]


@pytest.mark.slow
def test_npz_cli(tmp_path):
    images = make_images(20, with_cls=True)
    folder = tmp_path / "npz"
    folder.mkdir()
    for image in images:
        np.savez(folder / f"{image['image_id']}.npz", features=image["features"], boxes=image["boxes"],
                 cls_probs=image["cls_probs"], image_w=image["width"], image_h=image["height"])
    (folder / "notes.txt").write_text("ignored: not an .npz")
    run_cli(folder, "-o", tmp_path / "store", "--feature-dim", DIM, "--dtype", "float32")
    assert_store_equals(RegionStore(tmp_path / "store"), images, "float32")


def test_max_boxes_and_blank_lines(tmp_path):
    images = make_images(6, with_cls=True)
    path = write_tsv(tmp_path / "u.tsv", [tsv_line(im, "unimo_tsv") for im in images[:3]] + [""]
                     + [tsv_line(im, "unimo_tsv") for im in images[3:]])
    import_regions([path], tmp_path / "store", feature_dim=DIM, dtype="float32", max_boxes=2, progress=False)
    truncated = [dict(im, boxes=im["boxes"][:2], features=im["features"][:2], cls_probs=im["cls_probs"][:2])
                 for im in images]
    assert_store_equals(RegionStore(tmp_path / "store"), truncated, "float32")


def test_class_count_is_inferred_or_given(tmp_path):
    images = make_images(3, with_cls=True)
    empty = dict(images[0], image_id="empty", boxes=np.zeros((0, 4), np.float32),
                 features=np.zeros((0, DIM), np.float32), cls_probs=np.zeros((0, CLASSES), np.float32))
    path = write_tsv(tmp_path / "u.tsv", [tsv_line(im, "unimo_tsv") for im in [empty] + images])
    with pytest.raises(InputError, match=f"^{path}:1: .*cannot infer the class count, pass --num-classes"):
        import_regions([path], tmp_path / "store", feature_dim=DIM, progress=False)
    import_regions([path], tmp_path / "store", feature_dim=DIM, num_classes=CLASSES, dtype="float32",
                   progress=False)
    assert_store_equals(RegionStore(tmp_path / "store"), [empty] + images, "float32")


def bad_tsv_lines():
    """(line, expected message) for each class of malformed bottom-up-attention line."""
    (image,) = make_images(1, seed=7, prefix="bad")
    good = tsv_line(image, "bua_tsv").split("\t")

    def with_field(i, value):
        return "\t".join(good[:i] + [value] + good[i + 1:])

    nan_features = image["features"].copy()
    nan_features[0, 3] = np.nan
    inf_boxes = image["boxes"].copy()
    inf_boxes[-1, 2] = np.inf
    return [
        (with_field(5, good[5][:-4] + "@@@="), "column features: invalid base64"),
        (with_field(3, str(len(image["boxes"]) + 1)), "column boxes: .* bytes, expected num_boxes x 4 x 4"),
        (with_field(5, b64(nan_features)), "features contain NaN or inf"),
        (with_field(4, b64(inf_boxes)), "boxes contain NaN or inf"),
        (tsv_line(make_images(1)[0], "bua_tsv"), "duplicate image id '1000'"),
        ("\t".join(good[:5]), "5 tab-separated columns, expected 6"),
        (with_field(1, "640.5"), "column image_w: '640.5' is not a non-negative integer"),
        (with_field(3, "two"), "column num_boxes: 'two' is not a non-negative integer"),
        (with_field(2, "0"), "must be positive"),
    ]


@pytest.mark.parametrize("case", range(len(bad_tsv_lines())))
def test_bad_line_stops_with_file_and_line(tmp_path, case):
    bad, message = bad_tsv_lines()[case]
    good = [tsv_line(im, "bua_tsv") for im in make_images(3)]
    path = write_tsv(tmp_path / "in.tsv", [good[0], good[1], bad, good[2]])
    with pytest.raises(InputError, match=f"^{path}:3: .*{message}"):
        import_regions([path], tmp_path / "store", fmt="bua_tsv", feature_dim=DIM, progress=False)
    assert sorted(os.listdir(tmp_path)) == ["in.tsv"]


def test_cli_stops_at_first_bad_line(tmp_path, capsys):
    good = [tsv_line(im, "bua_tsv") for im in make_images(2)]
    path = write_tsv(tmp_path / "in.tsv", [good[0], bad_tsv_lines()[0][0], good[1]])
    with pytest.raises(SystemExit) as exit_info:
        main([path, "-o", str(tmp_path / "store"), "--feature-dim", str(DIM), "--no-progress"])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith(f"unimo-import-regions: error: {path}:2: column features: invalid base64")
    assert err.count("\n") == 1
    assert sorted(os.listdir(tmp_path)) == ["in.tsv"]


@pytest.mark.parametrize("contents, message", [
    (dict(features=np.zeros((2, DIM)), boxes=np.zeros((2, 4)), image_w=10), "missing key.*image_h"),
    (dict(features=np.zeros((2, DIM)), boxes=np.zeros((2, 4)), image_w=10.5, image_h=5), "image_w: .* not a positive"),
    (dict(features=np.zeros((2, DIM + 1)), boxes=np.zeros((2, 4)), image_w=10, image_h=5), "features: shape"),
    (dict(features=np.zeros((2, DIM)), boxes=np.zeros((3, 4)), image_w=10, image_h=5), "boxes: shape"),
    (dict(features=np.full((2, DIM), np.inf), boxes=np.zeros((2, 4)), image_w=10, image_h=5), "NaN or inf"),
    (None, "cannot read .npz"),
])
def test_bad_npz_names_the_file(tmp_path, contents, message):
    folder = tmp_path / "npz"
    folder.mkdir()
    np.savez(folder / "a.npz", features=np.ones((1, DIM)), boxes=np.ones((1, 4)), image_w=4, image_h=4)
    if contents is None:
        (folder / "b.npz").write_bytes(b"not a zip file")
    else:
        np.savez(folder / "b.npz", **contents)
    with pytest.raises(InputError, match=f"^{folder / 'b.npz'}: .*{message}"):
        import_regions([folder], tmp_path / "store", feature_dim=DIM, progress=False)


@pytest.mark.slow
def test_unimo_tsv_cli_sharded_resumed_run_equals_unsharded(tmp_path):
    images = make_images(40, with_cls=True)
    a = write_tsv(tmp_path / "a.tsv", [tsv_line(im, "unimo_tsv") for im in images[:17]])
    b = write_tsv(tmp_path / "b.tsv", [tsv_line(im, "unimo_tsv") for im in images[17:]])
    import_regions([a, b], tmp_path / "ref", feature_dim=DIM, progress=False)
    out = tmp_path / "out"
    # Shard 1 finished earlier (say on another machine); shard 2 was interrupted mid-write.
    import_regions([a, b], out, feature_dim=DIM, num_shards=3, shard_id=1, progress=False)
    finished = [os.stat(p).st_mtime_ns for p in (f"{out}.shard1-of-3", manifest_path(f"{out}.shard1-of-3"))]
    os.makedirs(f"{out}.shard2-of-3")
    Path(f"{out}.shard2-of-3", "features.npy").write_bytes(b"partial")

    proc = run_cli(a, b, "-o", out, "--feature-dim", DIM, "--num-shards", 3, "--merge", "--workers", 2)
    assert f"{out}.shard1-of-3: already complete, skipped" in proc.stdout
    assert f"{out}: merged 3 shards: 40 images" in proc.stdout
    assert [os.stat(p).st_mtime_ns for p in (f"{out}.shard1-of-3", manifest_path(f"{out}.shard1-of-3"))] == finished
    assert store_bytes(out) == store_bytes(tmp_path / "ref")
    merged = RegionStore(out)
    assert merged.num_classes == CLASSES and merged.manifest["options"]["format"] == "unimo_tsv"
    assert_store_equals(merged, images, "float16")
    shards = [RegionStore(f"{out}.shard{k}-of-3") for k in range(3)]
    assert [len(s) for s in shards] == [14, 14, 12]  # shards cross the file boundary at line 17
    assert sum((s.ids for s in shards), []) == merged.ids
    # The shared sharded run's records: each shard's items and the merge's summed counts.
    assert [s.manifest["run"]["items"] for s in shards] == [[0, 14], [14, 28], [28, 40]]
    assert merged.manifest["run"]["stats"]["images"] == 40 and merged.manifest["run"]["merged_from"]

    # Everything complete: a rerun does nothing.
    results = import_regions([a, b], out, feature_dim=DIM, num_shards=3, merge=True, progress=False)
    assert all(r.skipped for r in results)


def test_help_explains_every_option():
    parser = get_parser()
    for action in parser._actions:
        assert action.help, action.option_strings
