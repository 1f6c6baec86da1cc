"""unimo-rewrite-captions (data_scripts/rewrite_captions.py): scene-graph hard negatives of a tiny caption
split, end to end and in parts."""
import json
import os
import re
import sys

import pytest

from unimo_plugin.cli.rewrite_captions import main
from unimo_plugin.common.artifacts import read_manifest
from unimo_plugin.formats.caption_sets import read_caption_records
from unimo_plugin.formats.cmcl_candidates import read_cmcl_raw, text_key
from unimo_plugin.preprocess.cmcl.scene_graph.parse import SceneGraphParser
from unimo_plugin.preprocess.cmcl.scene_graph.rewrite import KINDS, swaps
from unimo_plugin.preprocess.cmcl.scene_graph.run import rewrite_split
from unimo_plugin.preprocess.cmcl.scene_graph.vocabulary import Vocabulary
from unimo_plugin.testing.commands import REPO_ROOT, run_cli

SCRIPT = os.path.join(REPO_ROOT, "data_scripts", "rewrite_captions.py")
CAPTIONS = {
    "img1": ["an old man riding a brown horse next to a wooden fence.", "a man on a horse near a fence.",
             "an old man rides a horse."],
    "img2": ["a woman holding an orange umbrella on a busy street.", "young women with umbrellas."],
    "img3": ["black dogs playing with white balls in the grass.", "two dogs chase a ball."],
    "img4": ["a small red circle is above a large blue square.", "a green triangle to the left of a yellow star.",
             "an elephant standing next to two small trees."],
    "img5": ["", "!!!"],  # empty, and no scene graph at all
}
PER_CAPTION = 4


def write_split(folder, split, captions):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, f"{split}.captions.jsonl"), "w") as f:
        n = 0
        for image, texts in captions.items():
            for text in texts:
                n += 1
                f.write(json.dumps({"caption_id": f"{split}:{n}", "image_id": image, "text": text}) + "\n")
    return str(folder)


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    return write_split(tmp_path_factory.mktemp("pairs"), "tiny", CAPTIONS)


@pytest.fixture(scope="module")
def cli_output(pairs):
    """One run of the script as a user would run it: 2 workers, 4 negatives a caption, a dump; no plausibility
    filter (an n-gram model of 12 captions finds nearly every rewrite unlikely)."""
    proc = run_cli([sys.executable, SCRIPT, "--pairs", pairs, "--split", "tiny", "--per-caption", str(PER_CAPTION),
                    "--workers", "2", "--batch-size", "4", "--dump", "3", "--seed", "7", "--plausibility", "none"])
    return proc, os.path.join(pairs, "tiny.cmcl_raw.negatives.scene_graph.jsonl")


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


@pytest.mark.slow
def test_cli_writes_negatives_levels_and_statistics(pairs, cli_output):
    proc, output = cli_output
    captions = read_caption_records(pairs, "tiny")
    items = read_cmcl_raw(output, captions, "text")
    assert [len(i) for i in items] == [PER_CAPTION] * 10 + [0, 0]
    for caption_items in items:
        for item in caption_items:
            swap = item["swapped"]
            assert swap["kind"] in KINDS and swap["from"] != swap["to"]
            parts = swap["from"].split(" | ") + swap["to"].split(" | ")
            assert len(parts) == (4 if swap["kind"] == "exchange" else 2)
            assert item["level"] == ("phrase" if any(len(part.split()) > 1 for part in parts) else "word")
    stats = read_manifest(output)["run"]["stats"]
    assert (stats["captions"], stats["rewritten"], stats["negatives"]) == (12, 10, 40)
    assert (stats["empty"], stats["unparsable"], stats["nothing_swappable"]) == (1, 1, 0)
    assert sum(stats["levels"].values()) == sum(stats["kinds"].values()) == 40
    assert all(stats["kinds"][kind] > 0 for kind in ("object", "attribute", "relation"))
    assert stats["levels"]["phrase"] > 0
    # --dump: originals beside their rewrites; then the statistics, failures quoted
    assert "3 captions and their rewrites:" in proc.stdout
    assert f"  {captions[0]['text']}\n    -> {items[0][0]['text']}" in proc.stdout
    assert "83.3% of captions with >= 1 rewrite" in proc.stdout
    assert "1 empty, 1 unparsable, 0 nothing swappable" in proc.stdout and "'!!!'" in proc.stdout


@pytest.mark.slow
def test_each_rewrite_changes_one_scene_graph_element(pairs, cli_output):
    """Parsed again, a rewrite has the same elements as its caption but the swapped one, in the same
    form (plural stays plural); it repeats no true caption of its image; a/an agree with the next word."""
    _, output = cli_output
    captions = read_caption_records(pairs, "tiny")
    items = read_cmcl_raw(output, captions, "text")
    parser = SceneGraphParser()
    true_texts = {}
    for caption in captions:
        true_texts.setdefault(caption["image_id"], set()).add(text_key(caption["text"]))
    plural_swaps = article_changes = 0
    for caption, graph, caption_items in zip(captions, parser.parse([c["text"] for c in captions]), items):
        for item, rewritten in zip(caption_items, parser.parse([i["text"] for i in caption_items])):
            before = [(s.kind, s.key, s.tag) for s in graph.slots]
            after = [(s.kind, s.key, s.tag) for s in rewritten.slots]
            assert len(before) == len(after), (caption["text"], item)
            changed = [i for i, (b, a) in enumerate(zip(before, after)) if b != a]
            if item["swapped"]["kind"] == "exchange":  # two phrases trade one element: the words trade places
                assert len(changed) == 2 and len({graph.slots[i].phrase for i in changed}) == 2, (caption, item)
                i, j = changed
                assert before[i][0] == before[j][0] and (after[i][1], after[j][1]) == (before[j][1], before[i][1])
                assert (after[i][2], after[j][2]) == (before[i][2], before[j][2])  # each noun keeps its number
            elif item["swapped"]["type"] == "phrase":  # a whole noun phrase: its words, of the same kinds and forms
                assert changed and all(before[i][0] == after[i][0] and before[i][2] == after[i][2] for i in changed)
                assert len({graph.slots[i].phrase for i in changed}) == 1, (caption["text"], item)
                i = changed[-1]
            else:
                assert len(changed) == 1, (caption["text"], item)
                i = changed[0]
                assert before[i][0] == after[i][0] == item["swapped"]["kind"] and before[i][2] == after[i][2]
                assert (graph.slots[i].text, rewritten.slots[i].text) == (item["swapped"]["from"],
                                                                          item["swapped"]["to"])
            assert text_key(item["text"]) not in true_texts[caption["image_id"]]
            for article, word in re.findall(r"\b(an?) (\w+)", item["text"]):
                assert (article == "an") == (word[0] in "aeiou"), item["text"]
            plural_swaps += before[i][2] == "NNS"
            article_changes += re.findall(r"\ban?\b", caption["text"]) != re.findall(r"\ban?\b", item["text"])
    assert plural_swaps and article_changes


@pytest.mark.slow
def test_seed_reproducible_across_workers_and_changes_with_seed(pairs, cli_output, tmp_path):
    _, output = cli_output
    again = tmp_path / "again.jsonl"
    run_cli([sys.executable, SCRIPT, "--pairs", pairs, "--split", "tiny", "--per-caption", str(PER_CAPTION),
             "--workers", "1", "--seed", "7", "--output", str(again), "--no-progress", "--plausibility", "none"])
    assert read(again) == read(output)
    other = tmp_path / "other_seed.jsonl"
    rewrite_split(pairs, "tiny", output=str(other), per_caption=PER_CAPTION, seed=8, plausibility="none")
    assert read(other) != read(output)


@pytest.mark.slow  # worker processes
def test_sharded_then_merged_equals_unsharded_and_resumes(pairs, tmp_path):
    whole = str(tmp_path / "whole.jsonl")
    rewrite_split(pairs, "tiny", output=whole, per_caption=PER_CAPTION, seed=7)
    sharded = str(tmp_path / "sharded.jsonl")
    # shard 1 alone (as on another machine: it builds and saves the vocabulary), then the rest and the merge
    rewrite_split(pairs, "tiny", output=sharded, per_caption=PER_CAPTION, seed=7, num_shards=3, shard_id=1)
    with pytest.raises(ValueError, match="2 of 3 shard\\(s\\) not complete"):
        rewrite_split(pairs, "tiny", output=sharded, per_caption=PER_CAPTION, seed=7, num_shards=3, shard_id=1,
                      merge=True)
    report = rewrite_split(pairs, "tiny", output=sharded, per_caption=PER_CAPTION, seed=7, num_shards=3,
                           merge=True, workers=2, batch_size=2)
    assert [(r.output, r.skipped) for r in report.runs] == [
        (f"{sharded}.shard0-of-3", False), (f"{sharded}.shard1-of-3", True), (f"{sharded}.shard2-of-3", False),
        (sharded, False)]
    assert report.parsed == 8  # shards 0 and 2 only: the vocabulary was saved by shard 1's run
    assert read(sharded) == read(whole)
    assert read_manifest(sharded)["run"]["stats"] == read_manifest(whole)["run"]["stats"]  # the shared run's record
    assert read_manifest(f"{sharded}.shard2-of-3")["run"]["items"] == [8, 12]
    again = rewrite_split(pairs, "tiny", output=sharded, per_caption=PER_CAPTION, seed=7, num_shards=3, merge=True)
    assert all(r.skipped for r in again.runs) and again.parsed == 0
    with pytest.raises(ValueError, match="made with other option seed: 7, this run 8.*--overwrite"):
        rewrite_split(pairs, "tiny", output=whole, per_caption=PER_CAPTION, seed=8)


def test_exchanges_trade_only_what_changes_the_meaning():
    """Two phrases trade an attribute of one type or their nouns; not where the caption says the same
    in another order, not between phrases that differ in what they specify, not interchangeable words."""
    images = {"a": ["a small red circle is above a large blue square.", "a little red circle above a big blue square."],
              "b": ["a red circle and a blue circle.", "two circles."], "c": ["a red circle and a blue glass circle."],
              "d": ["a big red circle above a large blue square.", "a large green star.", "a big green star."],
              "e": ["a big yellow triangle.", "a large yellow triangle."]}
    corpus = [text for texts in images.values() for text in texts]
    graphs = SceneGraphParser().parse(corpus)
    vocabulary = Vocabulary.build(graphs, [image for image, texts in images.items() for _ in texts])

    def exchanges(text):
        i = corpus.index(text)
        drawn = [option.draw(None) for option in swaps(text, graphs[i], vocabulary).get("exchange", [])]
        return {(text[:d[0]] + d[3] + text[d[1]:], d[4]["type"]) for d in drawn if d is not None}
    assert exchanges(corpus[0]) == {("a large red circle is above a small blue square.", "size"),
                                    ("a small blue circle is above a large red square.", "colour"),
                                    ("a small red square is above a large blue circle.", "noun")}
    assert exchanges("a red circle and a blue circle.") == set()  # "a blue circle and a red circle" says the same
    assert exchanges("a red circle and a blue glass circle.") == set()  # is the red circle glass? not said
    assert "big" in vocabulary.compatible["attribute"].get("large", ())
    assert exchanges("a big red circle above a large blue square.") == {  # big/large are not traded
        ("a big blue circle above a large red square.", "colour"),
        ("a big red square above a large blue circle.", "noun")}


def test_vocabulary_from_another_split(pairs, tmp_path):
    other = write_split(tmp_path, "other", {"a": ["a purple cat sleeps on a soft mat."]})
    report = rewrite_split(other, "other", per_caption=5, vocab_from=os.path.join(pairs, "tiny.captions.jsonl"),
                           plausibility="none")
    output = report.runs[0].output
    [items] = read_cmcl_raw(output, read_caption_records(other, "other"), "text")
    assert len(items) == 5 and not {i["swapped"]["to"] for i in items} & {"purple", "cat", "soft", "mat"}
    with open(f"{output}.vocab.json") as f:
        assert json.load(f)["source"]["captions"] == os.path.join(pairs, "tiny.captions.jsonl")
    # a split whose own vocabulary has no other element of any kind and class: counted, not fatal
    write_split(tmp_path, "single", {"a": ["a purple cat."]})
    alone = rewrite_split(str(tmp_path), "single")
    assert alone.runs[0].stats["nothing_swappable"] == 1 and alone.runs[0].stats["negatives"] == 0


def run_main(argv, capsys):
    """The command's main in this process, for its error exits: what it printed on stderr."""
    with pytest.raises(SystemExit):
        main(argv)
    return capsys.readouterr().err


def test_bad_inputs_are_reported_with_file_and_line(tmp_path, capsys):
    message = run_main(["--pairs", str(tmp_path), "--split", "missing", "--no-progress"], capsys)
    assert message.startswith("unimo-rewrite-captions: error:")
    assert os.path.join(str(tmp_path), "missing.captions.jsonl") in message
    path = tmp_path / "broken.captions.jsonl"
    path.write_text('{"caption_id": "1", "image_id": "a", "text": "a dog."}\n{"caption_id": "2", "image_id"\n')
    message = run_main(["--pairs", str(tmp_path), "--split", "broken", "--no-progress"], capsys)
    assert f"{path}:2: not a caption record" in message
    assert ">= 1" in run_main(["--pairs", str(tmp_path), "--split", "broken", "--per-caption", "0"], capsys)
