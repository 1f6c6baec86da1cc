"""build_cmcl_sidecars.py: readable CMCL outputs become the sidecars unimo_pretrain reads, encoded like
the captions (through the real BPE training, caption binarization and pretraining task)."""
import json
import os
import sys

import numpy as np
import pytest

from unimo_plugin.formats.caption_sets import read_caption_records
from unimo_plugin.formats.cmcl_candidates import write_cmcl_raw
from unimo_plugin.formats.region_store import RegionStoreWriter
from unimo_plugin.tasks.unimo_pretrain import UnimoPretrainConfig, UnimoPretrainTask
from unimo_plugin.testing.commands import run_cli

pytestmark = pytest.mark.slow  # end-to-end: BPE training, caption binarization and the command run as subprocesses

CAPTIONS = [("img0", "a red circle on the left."), ("img0", "a small red circle."),
            ("img1", "a blue square above a green star."), ("img2", "two yellow triangles.")]


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    root = tmp_path_factory.mktemp("cmcl")
    (root / "corpus.txt").write_text("\n".join(t for _, t in CAPTIONS) * 3 + "\n")
    run_cli([sys.executable, "data_scripts/train_bpe.py", "--input", root / "corpus.txt", "--output-dir", root / "bpe",
             "--vocab-size", "300"])
    rng = np.random.default_rng(0)
    with RegionStoreWriter(root / "store", 8, "float32") as w:
        for k in range(3):
            w.add(f"img{k}", 64, 64, [[0, 0, 10, 10], [5, 5, 30, 40]], rng.normal(size=(2, 8)))
    (root / "train.tsv").write_text("".join(f"{i}\t{t}\n" for i, t in CAPTIONS))
    bpe = ["--gpt2-encoder-json", root / "bpe" / "encoder.json", "--gpt2-vocab-bpe", root / "bpe" / "vocab.bpe"]
    data = root / "data"
    os.makedirs(data)
    (data / "dict.txt").write_text((root / "bpe" / "dict.txt").read_text())
    run_cli([sys.executable, "data_scripts/binarize_captions.py", "--input", root / "train.tsv", "--split", "train",
             "--region-store", root / "store", "--output-dir", data / "pairs", "--dict", data / "dict.txt", *bpe])
    return data, bpe


def test_sidecars_round_trip_through_the_pretraining_task(pairs):
    data, bpe = pairs
    captions = read_caption_records(data / "pairs", "train")
    write_cmcl_raw(data / "pairs" / "train.cmcl_raw.paraphrases.jsonl", captions,
                   [[{"text": "a red circle at the left.", "level": "sentence"}], [], [], []], "paraphrases")
    write_cmcl_raw(data / "pairs" / "train.cmcl_raw.negatives.tfidf.jsonl", captions,
                   [[{"text": "a blue square.", "level": "sentence"}], [], [], []], "negatives/tfidf")
    write_cmcl_raw(data / "pairs" / "train.cmcl_raw.negatives.scene_graph.jsonl", captions,
                   [[{"text": "a green circle on the left.", "level": "word",
                      "swapped": {"kind": "attribute", "from": "red", "to": "green"}},
                     {"text": "a blue square.", "level": "sentence"}], [], [], []], "negatives/scene_graph")
    write_cmcl_raw(data / "pairs" / "train.cmcl_raw.images.jsonl", captions,
                   [[{"image_id": "img2"}], [{"image_id": "img2"}], [], []], "images")
    proc = run_cli([sys.executable, "data_scripts/build_cmcl_sidecars.py", "--pairs", data / "pairs", "--split",
                    "train", "--dict", data / "dict.txt", *bpe])
    assert "train negatives: 2 items, 1 of 4 captions" in proc.stdout  # the repeated negative merged away

    task = UnimoPretrainTask.setup_task(UnimoPretrainConfig(data=str(data), seed=1, cmcl_negatives=5))
    task.load_dataset("train")
    pair = task.datasets["train"].corpora["pair"]
    assert set(pair.sidecars) == {"paraphrases", "negatives", "images"}
    from fairseq.data.encoders.gpt2_bpe import GPT2BPE, GPT2BPEConfig

    decoder = GPT2BPE(GPT2BPEConfig(gpt2_encoder_json=str(bpe[1]), gpt2_vocab_bpe=str(bpe[3])))
    decode = lambda t: decoder.decode(task.source_dictionary.string(t))  # noqa: E731
    # files of one kind are merged in name order: scene_graph before tfidf
    assert [decode(t) for t in pair.sidecars["negatives"][0]] == ["a green circle on the left.", "a blue square."]
    assert [decode(t) for t in pair.sidecars["paraphrases"][0]] == ["a red circle at the left."]
    assert pair.sidecars["images"][0] == [2] and pair.sidecars["images"][2] == []
    meta = [json.loads(line) for line in open(data / "pairs" / "train.cmcl.negatives.meta.jsonl")]
    assert meta[0]["swapped"]["to"] == "green" and meta[1]["level"] == "sentence"
    sample = pair[0]["cmcl"]
    assert len(sample["negatives"]) == 2 and len(sample["images"]) == 1


def test_misaligned_or_unknown_inputs_are_refused(pairs, tmp_path):
    data, bpe = pairs
    captions = read_caption_records(data / "pairs", "train")
    bad = tmp_path / "images.jsonl"
    write_cmcl_raw(bad, captions, [[{"image_id": "nope"}], [], [], []], "images")
    with pytest.raises(AssertionError, match="not in region store"):
        run_cli([sys.executable, "data_scripts/build_cmcl_sidecars.py", "--pairs", data / "pairs", "--split", "train",
                 "--dict", data / "dict.txt", "--images", bad, *bpe])
    shifted = tmp_path / "texts.jsonl"
    write_cmcl_raw(shifted, captions[1:] + captions[:1], [[]] * 4, "texts")
    with pytest.raises(AssertionError, match=r"texts.jsonl:1: caption id .*not aligned"):
        run_cli([sys.executable, "data_scripts/build_cmcl_sidecars.py", "--pairs", data / "pairs", "--split", "train",
                 "--dict", data / "dict.txt", "--texts", shifted, *bpe])
