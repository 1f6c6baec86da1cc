"""Back-translation paraphrases (data_scripts/paraphrase.py) through two tiny translation models that
fairseq's own CLIs train here on a toy language pair, and the import of paraphrases made elsewhere.

The pivot language is a Spanish-like word mapping that puts adjectives after their noun; the backward
model is trained to say "little", "big" and "beside" where the captions say "small", "large" and
"next to", so that back-translation gives paraphrases, and captions without those words mostly
come back unchanged (and are dropped).
"""
import json
import os
import random
import re
import subprocess
import sys

import pytest

from unimo_plugin.common.artifacts import InputError, read_manifest
from unimo_plugin.formats.caption_sets import read_caption_records
from unimo_plugin.formats.cmcl_candidates import read_cmcl_raw, text_key
from unimo_plugin.preprocess.cmcl.back_translation import (
    BackTranslator,
    ParaphraseStats,
    paraphrase_split,
    read_paraphrase_tsv,
    select_paraphrases,
)
from unimo_plugin.testing.commands import REPO_ROOT, fairseq_bin, run_cli

SCRIPT = os.path.join(REPO_ROOT, "data_scripts", "paraphrase.py")
SIZES = {"small": "pequeno", "large": "grande"}
COLORS = {"red": "rojo", "green": "verde", "blue": "azul", "yellow": "amarillo", "purple": "morado",
          "orange": "naranja"}
SHAPES = {"circle": "circulo", "square": "cuadrado", "triangle": "triangulo", "star": "estrella"}
RELATIONS = {"above": "encima de", "below": "debajo de", "left of": "izquierda de", "right of": "derecha de",
             "next to": "junto a"}
SYNONYMS = {"small": "little", "large": "big", "next to": "beside"}
NUM_CAPTIONS = 30
TRAIN_ARGS = [
    "--arch", "transformer", "--encoder-layers", "1", "--decoder-layers", "1", "--encoder-embed-dim", "64",
    "--decoder-embed-dim", "64", "--encoder-ffn-embed-dim", "128", "--decoder-ffn-embed-dim", "128",
    "--encoder-attention-heads", "4", "--decoder-attention-heads", "4", "--share-decoder-input-output-embed",
    "--dropout", "0", "--criterion", "label_smoothed_cross_entropy", "--label-smoothing", "0.1",
    "--optimizer", "adam", "--lr", "3e-3", "--lr-scheduler", "inverse_sqrt", "--warmup-updates", "50",
    "--max-tokens", "2000", "--max-update", "200", "--cpu", "--seed", "1", "--num-workers", "0",
    "--disable-validation", "--save-interval", "1000", "--no-epoch-checkpoints", "--log-format", "simple",
]


def toy_sentence(rng):
    """(English caption, its pivot translation, English with synonyms)."""
    def thing():
        return rng.choice([None, *SIZES]), rng.choice(list(COLORS)), rng.choice(list(SHAPES))

    def english(size, color, shape, synonyms=False):
        return " ".join(["a"] + ([SYNONYMS[size] if synonyms else size] if size else []) + [color, shape])

    def pivot(size, color, shape):
        return " ".join(["un", SHAPES[shape], COLORS[color]] + ([SIZES[size]] if size else []))

    a = thing()
    if rng.random() < 0.3:
        return f"there is {english(*a)}", f"hay {pivot(*a)}", f"there is {english(*a, True)}"
    b, relation = thing(), rng.choice(list(RELATIONS))
    return (f"{english(*a)} is {relation} {english(*b)}", f"{pivot(*a)} esta {RELATIONS[relation]} {pivot(*b)}",
            f"{english(*a, True)} is {SYNONYMS.get(relation, relation)} {english(*b, True)}")


def run_parallel(commands):
    """Run independent CLIs side by side (the two directions train at once; one thread each, see conftest)."""
    procs = [subprocess.Popen(list(map(str, c)), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True) for c in commands]
    for command, proc in zip(commands, procs):
        output = proc.communicate(timeout=600)[0]
        assert proc.returncode == 0, f"{command[0]} failed:\n{output[-4000:]}"


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Model directories (checkpoint + dictionaries) of the en->xx and xx->en models."""
    root = tmp_path_factory.mktemp("translation")
    rng = random.Random(0)
    corpus = [toy_sentence(rng) for _ in range(3000)]
    directions = {"forward": ("en", "xx", 0, 1), "backward": ("xx", "en", 1, 2)}
    for name, (src, tgt, i, j) in directions.items():
        for lang, column in ((src, i), (tgt, j)):
            (root / f"{name}.{lang}").write_text("".join(row[column] + "\n" for row in corpus))
    run_parallel([[fairseq_bin("fairseq-preprocess"), "-s", src, "-t", tgt, "--trainpref", root / name,
                   "--destdir", root / name, "--workers", "1"] for name, (src, tgt, _, _) in directions.items()])
    run_parallel([[fairseq_bin("fairseq-train"), root / name, "-s", src, "-t", tgt, "--save-dir", root / name,
                   *TRAIN_ARGS] for name, (src, tgt, _, _) in directions.items()])
    return root / "forward", root / "backward"


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    """A caption split ``test`` of toy captions unseen in training (another seed)."""
    root = tmp_path_factory.mktemp("pairs")
    rng = random.Random(1)
    with open(root / "test.captions.jsonl", "w") as f:
        for i in range(NUM_CAPTIONS):
            record = {"caption_id": f"test.tsv:{i + 1}", "image_id": f"img{i // 5}", "text": toy_sentence(rng)[0]}
            f.write(json.dumps(record) + "\n")
    return root


def paraphrase(pairs, output, *args):
    return run_cli([sys.executable, SCRIPT, "--pairs", pairs, "--split", "test", "--output", output,
                    "--no-progress", "--workers", "1", *args])


def translate_args(models):
    forward, backward = models
    return ["--forward", forward, "--backward", backward, "--checkpoint-file", "checkpoint_last.pt"]


def test_normalize_and_selection():
    assert text_key("  A man, riding -- a HORSE!\n") == text_key("a man riding a horse") == "a man riding a horse"
    assert text_key("well-known") == "well known"
    stats = ParaphraseStats()
    candidates = [("A red star.", "p1"), ("a big red star", "p1"), ("...", "p2"), ("A big red star!", "p2"),
                  ("the red star", "p2"), ("one red star", "p3")]
    items = select_paraphrases("a red star", candidates, 2, stats)
    assert items == [{"text": "a big red star", "level": "sentence", "pivot": "p1"},
                     {"text": "the red star", "level": "sentence", "pivot": "p2"}]
    assert (stats.identical, stats.empty, stats.duplicates, stats.kept, stats.with_paraphrases) == (1, 1, 1, 2, 1)
    assert select_paraphrases("a red star", [("a red star", None)], None, stats) == []
    assert (stats.captions, stats.with_paraphrases) == (2, 1)


@pytest.mark.slow
def test_back_translation_with_beam_search(models, pairs, tmp_path):
    output = tmp_path / "paraphrases.jsonl"
    proc = paraphrase(pairs, output, *translate_args(models), "--per-caption", "2", "--pivots", "2",
                      "--batch-size", "8")
    captions = read_caption_records(pairs, "test")
    items = read_cmcl_raw(output, captions, "text")  # aligned with the captions, or it raises
    texts = [[item["text"] for item in caption_items] for caption_items in items]
    for caption, caption_items in zip(captions, items):
        assert len(caption_items) <= 2
        keys = [text_key(item["text"]) for item in caption_items]
        assert text_key(caption["text"]) not in keys and len(set(keys)) == len(keys)
        assert all(item["level"] == "sentence" and item["pivot"].split()[0] in ("un", "hay") for item in caption_items)
    assert sum(bool(t) for t in texts) >= NUM_CAPTIONS * 0.8
    assert sum(any(w in t.split() for w in ("little", "big", "beside")) for ts in texts for t in ts) >= 10
    manifest = read_manifest(output)
    assert manifest["content"] == "paraphrases/back_translation"
    stats = manifest["run"]["stats"]
    assert stats["captions"] == NUM_CAPTIONS and stats["kept"] == sum(map(len, texts))
    assert manifest["source"]["paraphrases"]["pivots"] == 2
    assert f"{NUM_CAPTIONS} captions, {stats['with_paraphrases']} with >= 1 paraphrase" in proc.stdout
    print("\n".join(f"{c['text']} -> {t}" for c, t in zip(captions[:8], texts)))


@pytest.mark.slow
def test_sampling_seed_shards_and_resume(models, pairs, tmp_path):
    sampling = [*translate_args(models), "--sampling", "--sampling-topk", "5", "--per-caption", "3",
                "--batch-size", "5", "--seed", "3"]
    paraphrase(pairs, tmp_path / "a.jsonl", *sampling)
    # 3 shards of 10 captions: the batches of 5 are those of the unsharded run, so are their samples.
    # Shard 1 first, as if a run had stopped after it: the full run then skips it.
    paraphrase(pairs, tmp_path / "b.jsonl", *sampling, "--num-shards", "3", "--shard-id", "1")
    proc = paraphrase(pairs, tmp_path / "b.jsonl", *sampling, "--num-shards", "3", "--merge")
    assert proc.stdout.count("already complete, skipped") == 1 and "merged 3 shards" in proc.stdout
    a = (tmp_path / "a.jsonl").read_text()
    assert (tmp_path / "b.jsonl").read_text() == a
    assert read_manifest(tmp_path / "b.jsonl")["run"]["stats"] == read_manifest(tmp_path / "a.jsonl")["run"]["stats"]
    captions = read_caption_records(pairs, "test")
    items = read_cmcl_raw(tmp_path / "a.jsonl", captions, "text")
    assert all(text_key(item["text"]) != text_key(caption["text"])
               for caption, caption_items in zip(captions, items) for item in caption_items)

    # A complete run is skipped without loading the models; the same run with other options is refused.
    forward, backward = models
    translator = BackTranslator(forward, backward, per_pivot=3, sampling=True, sampling_topk=5, batch_size=5, seed=3,
                                checkpoint_file="checkpoint_last.pt")
    results = paraphrase_split(pairs, "test", tmp_path / "b.jsonl", translator=translator, per_caption=3,
                               num_shards=3, merge=True, progress=False)
    assert [r.skipped for r in results] == [True] * 4 and translator._hubs is None
    with pytest.raises(ValueError, match="b.jsonl.shard0-of-3 is complete but was made with other option paraphrases"):
        paraphrase_split(pairs, "test", tmp_path / "b.jsonl", translator=BackTranslator(
            forward, backward, checkpoint_file="checkpoint_last.pt"), per_caption=3, num_shards=3, progress=False)

    # The samples follow the seed.
    texts = [c["text"] for c in captions[:5]]
    samples = {}
    for seed in (3, 3, 4):
        translator = BackTranslator(forward, backward, per_pivot=3, sampling=True, sampling_topk=5, seed=seed,
                                    checkpoint_file="checkpoint_last.pt")
        samples.setdefault(seed, []).append(translator(texts))
    assert samples[3][0] == samples[3][1] != samples[4][0]


@pytest.mark.slow
def test_import(pairs, tmp_path):
    captions = read_caption_records(pairs, "test")
    first, second = captions[0], captions[1]
    tsv = tmp_path / "paraphrases.tsv"
    tsv.write_text(f"{first['caption_id']}\tan imported paraphrase\n"
                   f"{second['caption_id']}\t{second['text'].upper()}.\n"  # the caption itself: dropped
                   f"\n{first['caption_id']}\tanother one\n"
                   f"{first['caption_id']}\tAnother one!\n")  # a repeat: dropped
    proc = paraphrase(pairs, tmp_path / "out.jsonl", "--import", tsv)
    items = read_cmcl_raw(tmp_path / "out.jsonl", captions, "text")
    assert items[0] == [{"text": "an imported paraphrase", "level": "sentence"},
                        {"text": "another one", "level": "sentence"}]
    assert all(i == [] for i in items[1:])
    assert "1 with >= 1 paraphrase" in proc.stdout and "dropped 1 identical to the caption, 1 duplicates" in proc.stdout
    assert read_manifest(tmp_path / "out.jsonl")["content"] == "paraphrases/import"


@pytest.mark.parametrize("content, line, message", [
    ("test.tsv:1\tfine\nno tab here\n", 2, "expected caption_id<TAB>text, found no tab"),
    ("test.tsv:1\tfine\n\ntest.tsv:999\tunknown\n", 3, "unknown caption id 'test.tsv:999'"),
])
def test_import_errors_name_file_and_line(pairs, tmp_path, content, line, message):
    tsv = tmp_path / "bad.tsv"
    tsv.write_text(content)
    with pytest.raises(InputError, match=re.escape(f"{tsv}:{line}: {message}")):
        read_paraphrase_tsv(tsv, read_caption_records(pairs, "test"))
    with pytest.raises(InputError, match=re.escape(f"{tsv}:{line}:")):
        paraphrase_split(pairs, "test", tmp_path / "out.jsonl", import_file=tsv)
    assert not os.path.exists(tmp_path / "out.jsonl")


def test_merge_refuses_shards_made_differently(pairs, tmp_path):
    captions = read_caption_records(pairs, "test")
    tsvs = [tmp_path / "one.tsv", tmp_path / "two.tsv"]
    for i, tsv in enumerate(tsvs):
        tsv.write_text("".join(f"{c['caption_id']}\tparaphrase {i} of {c['text']}\n" for c in captions))
    out = tmp_path / "out.jsonl"
    paraphrase_split(pairs, "test", out, import_file=tsvs[0], num_shards=2, shard_id=0, progress=False)
    paraphrase_split(pairs, "test", out, import_file=tsvs[1], num_shards=2, shard_id=1, progress=False)
    with pytest.raises(ValueError, match=f"{out}.shard0-of-2 is complete but was made with other option paraphrases: "
                                         f".*one.tsv.*; inputs import: "):
        paraphrase_split(pairs, "test", out, import_file=tsvs[1], num_shards=2, merge=True, progress=False)
    paraphrase_split(pairs, "test", out, import_file=tsvs[1], num_shards=2, shard_id=0, overwrite=True,
                     progress=False)
    results = paraphrase_split(pairs, "test", out, import_file=tsvs[1], num_shards=2, merge=True, progress=False)
    assert [r.skipped for r in results] == [True, True, False]
    paraphrase_split(pairs, "test", tmp_path / "whole.jsonl", import_file=tsvs[1], progress=False)
    assert out.read_text() == (tmp_path / "whole.jsonl").read_text()
    assert read_manifest(out)["items"] == read_manifest(tmp_path / "whole.jsonl")["items"] == NUM_CAPTIONS
