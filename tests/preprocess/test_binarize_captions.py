"""Caption binarization: per-split token datasets, image rows and caption records tied to a region
store; missing images; sharded + merged and resumed runs equal to one run; bad input."""
import filecmp
import json
import os
import sys
from argparse import Namespace

import numpy as np
import pytest

from unimo_plugin.cli.binarize_captions import main as cli_main
from unimo_plugin.cli.binarize_text import main as text_main  # the command data_scripts/binarize_text.py runs
from unimo_plugin.common.artifacts import InputError, read_manifest
from unimo_plugin.formats.region_store import RegionStore, RegionStoreWriter, region_store_of
from unimo_plugin.preprocess.captions.caption_binarizer import binarize_captions
from unimo_plugin.preprocess.captions.caption_sources import read_caption_corpora, read_karpathy
from unimo_plugin.preprocess.text.bpe_training import train_bpe
from unimo_plugin.preprocess.text.text_binarizer import binarize_text
from unimo_plugin.testing.commands import REPO_ROOT, run_cli

SCRIPT = [sys.executable, os.path.join(REPO_ROOT, "data_scripts", "binarize_captions.py")]
STORE_IDS = ["4", "2", "7", "1", "3", "6", "5"]  # not in id order, so rows are not ids
KARPATHY = {"images": [
    {"cocoid": 1, "filename": "a.jpg", "split": "train",
     "sentences": [{"raw": "A dog runs on the grass.", "sentid": 10}, {"raw": " Two cats sleep. ", "sentid": 11}]},
    {"cocoid": 2, "filename": "b.jpg", "split": "restval",
     "sentences": [{"raw": "A red bus on a street.", "sentid": 20}, {"raw": "A bus.", "sentid": 21}]},
    {"cocoid": 3, "filename": "c.jpg", "split": "val",
     "sentences": [{"raw": "Un café très chaud ☕", "sentid": 30}]},
    {"cocoid": 4, "filename": "d.jpg", "split": "test",
     "sentences": [{"raw": "A man rides a horse.", "sentid": 40}, {"raw": "Horse and rider.", "sentid": 41}]},
    {"cocoid": 5, "filename": "e.jpg", "split": "train", "sentences": [{"raw": "The dog and the cat.", "sentid": 50}]},
    {"cocoid": 6, "filename": "f.jpg", "split": "val", "sentences": [{"raw": "A quiet street.", "sentid": 60}]},
]}
TSV_TRAIN = "7\ta kite in the sky\n99\ta missing image\n1\tdog on grass\n99\tagain missing\n"
TSV_VALID = "3\ta hot coffee\n"
pytestmark = pytest.mark.slow  # end-to-end: the CLI runs as a subprocess


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("captions")
    paths = {"root": root, "karpathy": str(root / "dataset_coco.json"), "train_tsv": str(root / "cc_train.tsv"),
             "valid_tsv": str(root / "cc_valid.tsv"), "store": str(root / "regions")}
    with open(paths["karpathy"], "w", encoding="utf-8") as f:
        json.dump(KARPATHY, f, ensure_ascii=False)
    (root / "cc_train.tsv").write_text(TSV_TRAIN, encoding="utf-8")
    (root / "cc_valid.tsv").write_text(TSV_VALID, encoding="utf-8")
    corpus = root / "corpus.txt"
    corpus.write_text("\n".join(s["raw"] for image in KARPATHY["images"] for s in image["sentences"])
                      + "\n" + TSV_TRAIN, encoding="utf-8")
    train_bpe([str(corpus)], str(root / "bpe"), vocab_size=320, min_frequency=1)
    paths["dict"] = str(root / "bpe" / "dict.txt")
    paths["bpe"] = Namespace(bpe="gpt2", gpt2_encoder_json=str(root / "bpe" / "encoder.json"),
                             gpt2_vocab_bpe=str(root / "bpe" / "vocab.bpe"))
    paths["bpe_args"] = ["--gpt2-encoder-json", paths["bpe"].gpt2_encoder_json,
                         "--gpt2-vocab-bpe", paths["bpe"].gpt2_vocab_bpe]
    with RegionStoreWriter(paths["store"], feature_dim=4) as writer:
        for image_id in STORE_IDS:
            writer.add(image_id, 64, 48, np.array([[0, 0, 10, 10]], np.float32), np.ones((1, 4)))
    paths["coco_out"] = str(root / "coco")
    run_cli(SCRIPT + ["--input", paths["karpathy"], "--merge-restval", "--region-store", paths["store"],
                      "--output-dir", paths["coco_out"], "--dict", paths["dict"], "--workers", "2"]
            + paths["bpe_args"])
    return paths


def jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def test_karpathy_cli_writes_aligned_split_files(data, tmp_path):
    out, store = data["coco_out"], RegionStore(data["store"])
    assert sorted(os.listdir(out)) == sorted(f"{split}{suffix}" for split in ("train", "valid", "test")
                                             for suffix in (".bin", ".idx", ".image_rows.npy", ".captions.jsonl"))
    records = jsonl(os.path.join(out, "train.captions.jsonl"))
    assert [r["caption_id"] for r in records] == ["10", "11", "20", "21", "50"]  # restval merged, file order
    assert records[1] == {"caption_id": "11", "image_id": "1", "text": "Two cats sleep."}
    for split in ("train", "valid", "test"):
        records = jsonl(os.path.join(out, f"{split}.captions.jsonl"))
        rows = np.load(os.path.join(out, f"{split}.image_rows.npy"))
        assert rows.dtype == np.int64 and rows.tolist() == [store.row_of(r["image_id"]) for r in records]
        # Tokens are exactly binarize_text's (and so fairseq-preprocess's) for the same captions.
        text = tmp_path / f"{split}.txt"
        text.write_text("".join(r["text"] + "\n" for r in records), encoding="utf-8")
        binarize_text(str(text), str(tmp_path / split), data["dict"], data["bpe"])
        for ext in ("bin", "idx"):
            assert filecmp.cmp(os.path.join(out, f"{split}.{ext}"), tmp_path / f"{split}.{ext}", shallow=False)
    manifest = read_manifest(out)
    assert region_store_of(out) == os.path.abspath(data["store"]) and manifest["region_store_images"] == 7
    assert not os.path.isabs(manifest["region_store"])  # the data directory can move as a whole
    assert manifest["splits"]["train"] == {**manifest["splits"]["train"], "captions": 5, "images": 3}
    assert manifest["skipped_missing"] == 0
    # Without --merge-restval, restval stays its own split.
    assert {c.split for c in read_caption_corpora([data["karpathy"]])} == {"train", "restval", "valid", "test"}


def test_tsv_missing_images_fail_or_are_skipped_and_counted(data):
    out = str(data["root"] / "cc")
    with pytest.raises(InputError, match=r"cc_train\.tsv:2: 2 captions of 1 images have no regions in .* "
                                         r"\(first: 99\); --skip-missing drops them"):
        binarize_captions([data["train_tsv"]], out, data["store"], data["dict"], data["bpe"])
    assert not os.path.exists(out)
    proc = run_cli(SCRIPT + ["--input", data["train_tsv"], data["valid_tsv"], "--split", "train", "valid",
                             "--skip-missing", "--region-store", data["store"], "--output-dir", out,
                             "--dict", data["dict"]] + data["bpe_args"])
    assert "skipped 2 captions" in proc.stdout
    manifest = read_manifest(out)
    assert manifest["skipped_missing"] == 2
    assert {s: c["captions"] for s, c in manifest["splits"].items()} == {"train": 2, "valid": 1}
    assert [r["caption_id"] for r in jsonl(os.path.join(out, "train.captions.jsonl"))] == ["cc_train.tsv:1",
                                                                                           "cc_train.tsv:3"]


def test_sharded_resumed_and_merged_equals_one_run(data):
    out = str(data["root"] / "coco_sharded")
    kwargs = dict(merge_restval=True, workers=2, num_shards=3)
    first = binarize_captions([data["karpathy"]], out, data["store"], data["dict"], data["bpe"], shard_id=0,
                              **kwargs)
    os.makedirs(f"{out}.shard1-of-3")  # interrupted: a directory without its manifest
    open(f"{out}.shard1-of-3/train.bin", "wb").write(b"partial")
    resumed = [binarize_captions([data["karpathy"]], out, data["store"], data["dict"], data["bpe"], shard_id=k,
                                 **kwargs) for k in range(3)]
    assert resumed[0] == first  # skipped, not redone
    assert [m["run"]["items"] for m in resumed] == [[0, 3], [3, 6], [6, 9]]  # the shared sharded run's record
    assert sorted(resumed[2]["splits"]) == ["test", "train", "valid"]

    cli_main(["--merge", "--output-dir", out, "--num-shards", "3"])
    names = sorted(os.listdir(data["coco_out"]))
    assert sorted(os.listdir(out)) == names
    assert all(filecmp.cmp(os.path.join(out, n), os.path.join(data["coco_out"], n), shallow=False) for n in names)
    merged, whole = read_manifest(out), read_manifest(data["coco_out"])
    assert merged["splits"] == whole["splits"] and merged["region_store_digest"] == whole["region_store_digest"]


def test_bad_input_names_file_and_line(data, tmp_path, capsys):
    bad = tmp_path / "bad.tsv"
    bad.write_text("1\tfine caption\nno tab on this line\n", encoding="utf-8")
    with pytest.raises(SystemExit) as exit_info:  # a clean exit with a message, not a traceback
        cli_main(["--input", str(bad), "--region-store", data["store"], "--output-dir", str(tmp_path / "out"),
                  "--dict", data["dict"]] + data["bpe_args"])
    assert exit_info.value.code == 1
    assert f"{bad}:2: expected 2 tab-separated fields (image_id<TAB>caption), found 1" in capsys.readouterr().err

    bad.write_text("1\tfine caption\n2\tok\n3\t   \n", encoding="utf-8")
    with pytest.raises(InputError, match=r"bad\.tsv:3: empty caption for image 3"):
        read_caption_corpora([str(bad)])

    def karpathy(images, **kwargs):
        path = tmp_path / "k.json"
        path.write_text(json.dumps({"images": images}), encoding="utf-8")
        return read_karpathy(str(path), **kwargs)

    with pytest.raises(InputError, match=r"k\.json: images\[0\] \(image 1\) sentences\[1\]: empty or missing 'raw'"):
        karpathy([{"cocoid": 1, "split": "train", "sentences": [{"raw": "ok"}, {"raw": " "}]}])
    with pytest.raises(InputError, match=r"images\[0\] \(image 1\) has split 'dev', expected one of"):
        karpathy([{"cocoid": 1, "split": "dev", "sentences": []}])
    with pytest.raises(InputError, match=r"images\[0\] has no image id \(looked for imgid"):
        karpathy([{"cocoid": 1, "split": "val", "sentences": []}], id_field="imgid")
    flickr = karpathy([{"imgid": 0, "filename": "x.jpg", "split": "test", "sentences": [{"raw": "hi", "sentid": 3}]}])
    assert (flickr[0].image_id, flickr[0].caption_id) == ("0", "3")
    (tmp_path / "broken.json").write_text('{"images": [\n  {"cocoid": 1,,}\n]}', encoding="utf-8")
    with pytest.raises(InputError, match=r"broken\.json:2: not valid JSON"):
        read_caption_corpora([str(tmp_path / "broken.json")])


def test_store_named_by_file_stems_gets_the_id_field_that_finds_its_images(data, tmp_path, capsys):
    """A store extracted from image files (ids = file stems) and the default --id-field (cocoid): the error
    names --id-field filename instead of offering to drop every caption."""
    stems = tmp_path / "stems"
    with RegionStoreWriter(stems, feature_dim=4) as writer:
        for name in "abcdef":
            writer.add(name, 64, 48, np.array([[0, 0, 10, 10]], np.float32), np.ones((1, 4)))
    args = ["--input", data["karpathy"], "--region-store", str(stems), "--dict", data["dict"]] + data["bpe_args"]
    with pytest.raises(SystemExit) as exit_info:
        cli_main(args + ["--output-dir", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert exit_info.value.code == 1 and "9 captions of 6 images have no regions in" in err
    assert "the store names these images by their filename, not by the --id-field used: pass --id-field " \
           "filename" in err and "--skip-missing" not in err
    cli_main(args + ["--output-dir", str(tmp_path / "out"), "--id-field", "filename"])
    assert read_manifest(tmp_path / "out")["splits"]["train"] == {
        **read_manifest(tmp_path / "out")["splits"]["train"], "captions": 3, "images": 2}


def test_bpe_and_text_corpus_straight_from_caption_files(data, tmp_path, capsys):
    """train_bpe.py and binarize_text.py read Karpathy JSON and image_id<TAB>caption TSV: the same BPE and
    dataset as from a text file of the captions, one per line."""
    texts = [s["raw"].strip() for image in KARPATHY["images"] for s in image["sentences"]]
    tsv_texts = [line.split("\t")[1] for line in TSV_TRAIN.splitlines()]
    plain = tmp_path / "captions.txt"
    plain.write_text("".join(t + "\n" for t in texts + tsv_texts), encoding="utf-8")
    bpe = [sys.executable, os.path.join(REPO_ROOT, "data_scripts", "train_bpe.py"), "--vocab-size", "300",
           "--min-frequency", "1"]
    run_cli(bpe + ["--input", data["karpathy"], data["train_tsv"], "--input-format", "auto", "tsv",
                   "--output-dir", str(tmp_path / "from_captions")])
    run_cli(bpe + ["--input", str(plain), "--output-dir", str(tmp_path / "from_text")])
    for name in ("encoder.json", "vocab.bpe", "dict.txt"):
        assert filecmp.cmp(tmp_path / "from_captions" / name, tmp_path / "from_text" / name, shallow=False), name
    assert read_manifest(tmp_path / "from_captions")["options"]["input_formats"] == ["karpathy", "tsv"]

    common = ["--dict", data["dict"]] + data["bpe_args"]
    plain.write_text("".join(t + "\n" for t in texts), encoding="utf-8")
    text_main(["--input", data["karpathy"], "--output", str(tmp_path / "karpathy")] + common)  # auto: JSON
    text_main(["--input", str(plain), "--output", str(tmp_path / "plain")] + common)
    assert all(filecmp.cmp(tmp_path / f"karpathy.{ext}", tmp_path / f"plain.{ext}", shallow=False)
               for ext in ("bin", "idx"))
    assert read_manifest(f"{tmp_path / 'karpathy'}.bin")["sequences"] == len(texts) == 9
    text_main(["--input", data["valid_tsv"], "--input-format", "tsv", "--output", str(tmp_path / "tsv")] + common)
    assert read_manifest(f"{tmp_path / 'tsv'}.bin")["sequences"] == 1
    with pytest.raises(SystemExit) as exit_info:
        text_main(["--input", data["train_tsv"], "--input-format", "karpathy", "--output", str(tmp_path / "bad")]
                  + common)
    assert exit_info.value.code == 1 and f"{data['train_tsv']}:1: not valid JSON" in capsys.readouterr().err
