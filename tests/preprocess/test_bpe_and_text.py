"""BPE training and text binarization: fairseq's encoders load our BPE, and our datasets are
byte-identical to fairseq-preprocess's, unsharded, sharded + merged, and resumed."""
import filecmp
import importlib.util
import json
import os
import sys
from argparse import Namespace

import pytest
from fairseq.data import Dictionary
from fairseq.data.encoders import build_bpe
from fairseq.tasks import FairseqTask
from fairseq.tokenizer import tokenize_line

from unimo_plugin.cli.binarize_text import main as binarize_text_main
from unimo_plugin.cli.shared_args import bpe_config
from unimo_plugin.common.artifacts import InputError, read_manifest
from unimo_plugin.preprocess.text.bpe_training import train_bpe
from unimo_plugin.preprocess.text.text_binarizer import binarize_text, merge_text_shards
from unimo_plugin.testing.commands import REPO_ROOT, fairseq_bin, run_cli

SCRIPTS = os.path.join(REPO_ROOT, "data_scripts")
HAS_FASTBPE = importlib.util.find_spec("fastBPE") is not None
HAS_SENTENCEPIECE = importlib.util.find_spec("sentencepiece") is not None
pytestmark = pytest.mark.slow  # end-to-end: the CLIs and fairseq-preprocess run as subprocesses

# Documents separated by blank lines; CRLF and a lone CR (a line break to fairseq's text-mode reader),
# padding spaces, tabs, non-Latin script and an emoji; no newline at the end.
CORPUS = (
    "The quick brown fox jumps over the lazy dog.\n"
    "  A second sentence,   with extra spaces\tand a tab.  \r\n"
    "\n"
    "Un deuxième document, très court.\rIt has a lone carriage return.\n"
    "日本語のテキストも少し 🙂\n"
    "\n"
    "\n"
    "The lazy dog sleeps; the quick fox runs over the hill again and again.\n"
    "last line without a newline"
)


def script(name):
    return [sys.executable, os.path.join(SCRIPTS, name)]


def bpe_args(kind, files):
    return {
        "gpt2": ["--bpe", "gpt2", "--gpt2-encoder-json", files["encoder"], "--gpt2-vocab-bpe", files["vocab"]],
        "sentencepiece": ["--bpe", "sentencepiece", "--sentencepiece-model", files.get("spm", "")],
        "fastbpe": ["--bpe", "fastbpe", "--bpe-codes", files.get("codes", "")],
    }[kind]


def fairseq_encode(cfg, raw, out):
    """RoBERTa's multiprocessing_bpe_encoder.py --keep-empty: text-mode lines, stripped, encoded."""
    bpe = build_bpe(cfg)
    with open(raw, encoding="utf-8") as f, open(out, "w", encoding="utf-8") as o:
        for line in f:
            o.write(bpe.encode(line.strip()) + "\n")


def same_dataset(a, b):
    return all(filecmp.cmp(f"{a}.{ext}", f"{b}.{ext}", shallow=False) for ext in ("bin", "idx"))


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A corpus, a BPE trained on it by the CLI, and fairseq-preprocess's datasets for every encoder."""
    root = tmp_path_factory.mktemp("text")
    raw = str(root / "corpus.txt")
    with open(raw, "w", encoding="utf-8", newline="") as f:
        f.write(CORPUS)
    run_cli(script("train_bpe.py") + ["--input", raw, "--output-dir", str(root / "bpe"), "--vocab-size", "400",
                                      "--min-frequency", "1", "--workers", "2"])
    files = {"raw": raw, "encoder": str(root / "bpe" / "encoder.json"), "vocab": str(root / "bpe" / "vocab.bpe"),
             "dict": str(root / "bpe" / "dict.txt")}
    configs = {"gpt2": Namespace(bpe="gpt2", gpt2_encoder_json=files["encoder"], gpt2_vocab_bpe=files["vocab"])}
    if HAS_SENTENCEPIECE:
        import sentencepiece as spm

        spm.SentencePieceTrainer.train(input=raw, model_prefix=str(root / "spm"), vocab_size=60,
                                       model_type="bpe", hard_vocab_limit=False, minloglevel=2)
        files["spm"] = str(root / "spm.model")
        configs["sentencepiece"] = Namespace(bpe="sentencepiece", sentencepiece_model=files["spm"])
    if HAS_FASTBPE:
        files["codes"] = str(root / "codes")
        with open(files["codes"], "w") as f:
            f.write("t h 9\nth e</w> 6\no v 4\nov er</w> 3\na n 3\nq u 2\n")
        configs["fastbpe"] = Namespace(bpe="fastbpe", bpe_codes=files["codes"])
    # One dictionary covering every encoder's symbols (GPT-2 ids, sentencepiece and fastBPE pieces
    # cannot collide) lets a single fairseq-preprocess call make all references.
    union = Dictionary()
    prefs = []
    for kind, cfg in configs.items():
        encoded = str(root / f"{kind}.bpe")
        fairseq_encode(cfg, raw, encoded)
        Dictionary.add_file_to_dictionary(encoded, union, tokenize_line, 1)
        prefs.append(encoded)
    union.finalize()
    files["union_dict"] = str(root / "union_dict.txt")
    union.save(files["union_dict"])
    flags = ["--trainpref", "--validpref", "--testpref"]
    run_cli([fairseq_bin("fairseq-preprocess"), "--only-source", "--srcdict", files["union_dict"],
             "--dataset-impl", "mmap", "--workers", "2", "--destdir", str(root / "ref")]
            + [arg for flag, pref in zip(flags, prefs) for arg in (flag, pref)])
    files["ref"] = {kind: str(root / "ref" / split) for kind, split in zip(configs, ["train", "valid", "test"])}
    files["configs"], files["root"] = configs, root
    return files


def test_trained_bpe_round_trips_through_fairseq_gpt2_encoder(work):
    bpe = build_bpe(work["configs"]["gpt2"])
    lines = open(work["raw"], encoding="utf-8", newline="").read().split("\n")
    for text in lines + [CORPUS]:
        assert bpe.decode(bpe.encode(text)) == text
    with open(work["encoder"]) as f:
        bpe_ids = {str(i) for i in json.load(f).values()}
    dictionary = Dictionary.load(work["dict"])
    assert bpe_ids <= set(dictionary.symbols)  # every BPE token has an id: no text maps to <unk>
    assert read_manifest(os.path.dirname(work["dict"]))["bpe_vocab_size"] == len(bpe_ids)


def test_seen_token_dictionary_is_fairseq_preprocess_dictionary(work, tmp_path):
    manifest = train_bpe([work["raw"]], str(tmp_path / "bpe"), vocab_size=400, min_frequency=1,
                         only_seen_tokens=True)
    assert manifest["dictionary_size"] % 8 == 0
    fairseq_encode(Namespace(bpe="gpt2", gpt2_encoder_json=str(tmp_path / "bpe" / "encoder.json"),
                             gpt2_vocab_bpe=str(tmp_path / "bpe" / "vocab.bpe")), work["raw"], tmp_path / "enc")
    reference = FairseqTask.build_dictionary([str(tmp_path / "enc")], threshold=0)  # fairseq-preprocess's
    reference.save(str(tmp_path / "reference_dict.txt"))
    assert filecmp.cmp(tmp_path / "bpe" / "dict.txt", tmp_path / "reference_dict.txt", shallow=False)
    # The default dictionary starts with the same seen tokens, in the same order.
    default_lines = open(work["dict"]).read().splitlines()
    seen_lines = [line for line in open(tmp_path / "bpe" / "dict.txt").read().splitlines()
                  if not line.startswith("madeupword")]
    assert default_lines[:len(seen_lines)] == seen_lines


def test_binarize_text_gpt2_cli_matches_fairseq_preprocess(work):
    out = str(work["root"] / "ours" / "gpt2")
    run_cli(script("binarize_text.py") + ["--input", work["raw"], "--output", out, "--dict", work["union_dict"],
                                          "--workers", "2"] + bpe_args("gpt2", work))
    assert same_dataset(out, work["ref"]["gpt2"])
    manifest = read_manifest(out + ".bin")
    assert manifest["sequences"] == 10 and manifest["dictionary_size"] == len(Dictionary.load(work["union_dict"]))


@pytest.mark.parametrize("kind", [
    pytest.param("sentencepiece", marks=pytest.mark.skipif(
        not HAS_SENTENCEPIECE, reason="sentencepiece not importable: pip install sentencepiece")),
    pytest.param("fastbpe", marks=pytest.mark.skipif(
        not HAS_FASTBPE, reason="fastBPE not importable: pip install cython && pip install --no-build-isolation "
                                "fastbpe")),
])
def test_binarize_text_other_encoders_match_fairseq_preprocess(work, kind):
    out = str(work["root"] / "ours" / kind)
    binarize_text_main(["--input", work["raw"], "--output", out, "--dict", work["union_dict"]] + bpe_args(kind, work))
    assert same_dataset(out, work["ref"][kind])


def test_sharded_resumed_and_merged_equals_unsharded(work, tmp_path):
    cfg, out = work["configs"]["gpt2"], str(tmp_path / "train")
    unsharded = binarize_text(work["raw"], str(tmp_path / "whole"), work["union_dict"], cfg)
    assert same_dataset(str(tmp_path / "whole"), work["ref"]["gpt2"])

    first = binarize_text(work["raw"], out, work["union_dict"], cfg, num_shards=3, shard_id=0)
    # An interrupted shard 1: a data file but no manifest. Merging must refuse, resuming must redo it.
    open(f"{out}.shard1-of-3.bin", "wb").write(b"partial")
    with pytest.raises(ValueError, match=f"2 of 3 shard\\(s\\) not complete: {out}.shard1-of-3, {out}.shard2-of-3"):
        merge_text_shards(out, 3)
    mtime = os.path.getmtime(f"{out}.shard0-of-3.bin")
    resumed = [binarize_text(work["raw"], out, work["union_dict"], cfg, workers=2, num_shards=3, shard_id=k)
               for k in range(3)]
    assert resumed[0] == first and os.path.getmtime(f"{out}.shard0-of-3.bin") == mtime  # skipped
    assert [m["run"]["items"] for m in resumed] == [[0, 3], [3, 6], [6, 9]]  # the shared sharded run's record

    binarize_text_main(["--merge", "--output", out, "--num-shards", "3"])
    assert same_dataset(out, str(tmp_path / "whole"))
    merged = read_manifest(out + ".bin")
    assert (merged["sequences"], merged["tokens"]) == (unsharded["sequences"], unsharded["tokens"])


def test_bad_input_names_file_and_line(work, tmp_path, capsys):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"fine\nalso fine\nbroken \xff\xfe byte\n")
    with pytest.raises(SystemExit) as exit_info:  # a clean exit with a message, not a traceback
        binarize_text_main(["--input", str(bad), "--output", str(tmp_path / "bad"), "--dict", work["dict"],
                            "--workers", "2"] + bpe_args("gpt2", work))
    assert exit_info.value.code == 1 and f"{bad}:3: not valid UTF-8" in capsys.readouterr().err
    assert os.listdir(tmp_path) == ["bad.txt"]  # nothing half-written left behind

    with pytest.raises(InputError, match=r"bad\.txt:3: not valid UTF-8"):
        train_bpe([str(bad)], str(tmp_path / "bpe"), vocab_size=300)
    with pytest.raises(ValueError, match="--bpe gpt2 needs --gpt2-vocab-bpe"):
        bpe_config(Namespace(bpe="gpt2", gpt2_encoder_json=work["encoder"], gpt2_vocab_bpe=None))


def test_line_ranges_partition_the_file_across_read_blocks(tmp_path, monkeypatch):
    from unimo_plugin.common import text_files

    monkeypatch.setattr(text_files, "_BLOCK", 3)  # shard starts found across many read blocks
    path = tmp_path / "lines.txt"
    path.write_bytes(b"a\n\nbcdefg\nh\n\n\nijklmnop\nq")
    lines = [text for _, text in text_files.iter_lines(path)]
    assert text_files.count_lines(path) == len(lines) == 8
    for start in range(10):
        for end in range(start, 10):
            assert [text for _, text in text_files.iter_lines(path, start, end)] == lines[start:end]
