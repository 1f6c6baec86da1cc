"""The grader of CMCL negatives (evaluation/negatives.py, unimo-grade-negatives) against hand-labelled examples,
and the two ground-truth oracles it grades with (the sample data's and the compositional scenes')."""
import json
import os

import numpy as np
import pytest

from unimo_plugin.cli.grade_negatives import main
from unimo_plugin.evaluation.negatives import grade_negatives, report_json
from unimo_plugin.formats.cmcl_candidates import cmcl_raw_path, write_cmcl_raw
from unimo_plugin.testing import compositional_scenes
from unimo_plugin.testing.sample_oracle import SampleOracle
from unimo_plugin.testing.sample_scenes import captions as sample_captions
from unimo_plugin.testing.sample_scenes import sample_scene

FIXTURE = os.path.join(os.path.dirname(__file__), "..", "fixtures", "negatives", "hand_labelled.json")
VERDICT_OF_LABEL = {"valid": "false", "false_negative": "true", "malformed": "malformed"}


class AlwaysFalse:
    def judge(self, image_id, text):
        return "false"


@pytest.fixture
def labelled(tmp_path):
    """(captions, negatives as cmcl_raw items, labels, oracle) of the hand-labelled fixture."""
    with open(FIXTURE) as f:
        data = json.load(f)
    scenes = tmp_path / "dataset_sample.json"
    scenes.write_text(json.dumps({"images": [{"image_id": k, "objects": v, "sentences": []}
                                             for k, v in data["scenes"].items()]}))
    captions = [{k: c[k] for k in ("caption_id", "image_id", "text")} for c in data["captions"]]
    negatives = [[{"text": t, "level": level, "swapped": {"kind": kind}} for t, level, kind, _ in c["negatives"]]
                 for c in data["captions"]]
    labels = [[label for *_, label in c["negatives"]] for c in data["captions"]]
    return captions, negatives, labels, SampleOracle(str(scenes), image_size=128), str(scenes)


def test_oracle_agrees_with_every_hand_label(labelled):
    captions, negatives, labels, oracle, _ = labelled
    for caption, items, caption_labels in zip(captions, negatives, labels):
        assert oracle.judge(caption["image_id"], caption["text"]) == "true"
        for item, label in zip(items, caption_labels):
            assert oracle.judge(caption["image_id"], item["text"]) == VERDICT_OF_LABEL[label], item["text"]


def test_rates_per_level_and_kind_are_the_hand_labels(labelled):
    captions, negatives, labels, oracle, _ = labelled
    report = report_json(grade_negatives(captions, negatives, oracle, lm_orders=(2,)))
    groups = report["groups"]
    # counted by hand from the fixture: (negatives, valid %, false negative %, malformed %)
    expected = {"word/relation": (2, 100, 0, 0), "word/attribute": (4, 50, 0, 50), "word/object": (4, 100, 0, 0),
                "phrase/relation": (1, 0, 100, 0), "phrase/object": (3, 100 / 3, 100 / 3, 100 / 3),
                "sentence/retrieved": (1, 100, 0, 0), "rewrites/all": (14, 900 / 14, 200 / 14, 300 / 14)}
    for group, (n, valid, false_negative, malformed) in expected.items():
        g = groups[group]
        assert (g["negatives"], g["valid"], g["false_negative"], g["malformed"]) == \
            (n, round(valid, 2), round(false_negative, 2), round(malformed, 2)), group
    assert report["coverage"] == 100.0 and report["rewritten"] == 4
    targets = report["targets"]
    assert not targets["valid"]["met"] and not targets["false_negative"]["met"] and not targets["malformed"]["met"]
    assert targets["coverage"]["met"]


def test_blind_text_accuracy_by_hand():
    """A unigram model of three sentences: a word seen more often scores higher; ties count one half."""
    lm_sentences = ["a red circle", "a red square", "a blue circle"]  # red 2, circle 2, blue 1, square 1
    captions = [{"caption_id": "1", "image_id": "x", "text": "a red circle"},
                {"caption_id": "2", "image_id": "x", "text": "a blue square"}]
    negatives = [[{"text": "a blue circle", "level": "word"},  # blue < red: the caption wins (1)
                  {"text": "a red green", "level": "word"},  # an unseen word: the caption wins (1)
                  {"text": "a circle red", "level": "word"}],  # the same words: a tie (1/2)
                 [{"text": "a red square", "level": "word"}]]  # red > blue: the negative wins (0)
    report = report_json(grade_negatives(captions, negatives, AlwaysFalse(), lm_orders=(1,), lm_sentences=lm_sentences))
    assert report["groups"]["word/unknown"]["blind"] == {"1": 62.5}


def test_command_prints_the_table_and_writes_json(labelled, tmp_path, capsys):
    captions, negatives, _, _, scenes = labelled
    pairs = tmp_path / "pairs"
    pairs.mkdir()
    with open(pairs / "train.captions.jsonl", "w") as f:
        f.writelines(json.dumps(c) + "\n" for c in captions)
    write_cmcl_raw(cmcl_raw_path(str(pairs), "train", "negatives/scene_graph"), captions, negatives,
                   "negatives/scene_graph")
    out = tmp_path / "grades.json"
    main(["--pairs", str(pairs), "--split", "train", "--scenes", scenes, "--json", str(out), "--show"])
    printed = capsys.readouterr().out
    assert "negatives from train.cmcl_raw.negatives.scene_graph.jsonl" in printed
    assert "all rewrites" in printed and "valid 64.3% (>= 90%: NOT MET)" in printed
    assert "'a small large circle at the top left.'" in printed  # --show: a malformed example
    assert json.loads(out.read_text())["groups"]["rewrites/all"]["negatives"] == 14
    with pytest.raises(SystemExit):
        main(["--pairs", str(pairs), "--split", "train", "--oracle", "no_colon_here"])
    assert "expected 'sample' or MODULE:CALLABLE" in capsys.readouterr().err


def test_sample_oracle_judges_the_sample_grammar(tmp_path):
    """Every generated caption is true of its scene; most of another scene's are false; broken ones malformed."""
    rng = np.random.default_rng(0)
    scenes = [sample_scene(rng) for _ in range(60)]
    images = [{"image_id": f"s{k}", "objects": [o._asdict() for o in s.objects],
               "sentences": [{"raw": t} for t in sample_captions(s, rng)]} for k, s in enumerate(scenes)]
    path = tmp_path / "dataset_sample.json"
    path.write_text(json.dumps({"images": images}))
    oracle = SampleOracle(str(path), image_size=128)
    others = []
    for k, image in enumerate(images):
        for sentence in image["sentences"]:
            assert oracle.judge(image["image_id"], sentence["raw"]) == "true", sentence["raw"]
            others.append(oracle.judge(images[k - 1]["image_id"], sentence["raw"]))
    assert others.count("malformed") == 0 and others.count("false") > 0.8 * len(others)
    for broken in ("a red red circle on the left.", "an red circle on the left.", "a circle red on the left.",
                   "there are two objects: a red circle.", "a red shape on the left.", "a red circle on the lef."):
        assert oracle.judge("s0", broken) == "malformed", broken


def test_compositional_oracle_by_hand(tmp_path):
    captions, scenes = compositional_scenes.make_split(3, 40)
    path = tmp_path / "scenes.json"
    path.write_text(json.dumps({**scenes, "hand": [
        {"size": "big", "colour": "teal", "material": "metal", "shape": "cube", "x": 0.2, "y": 0.2, "z": 0.3},
        {"size": "small", "colour": "navy", "material": "rubber", "shape": "ring", "x": 0.4, "y": 0.4, "z": 0.6}]}))
    oracle = compositional_scenes.Oracle(str(path))
    assert compositional_scenes.captions_are_true(captions, oracle)
    labelled = {  # read against the two things above
        "a big teal block to the left of a tiny navy ring.": "true",
        "a big teal cube to the right of a navy ring.": "false",
        "the teal shape is in front of the navy object.": "true",  # generic nouns: true, never a negative
        "a navy ring near a teal cube.": "true",
        "a large metallic cube above a rubber ring.": "true",
        "a large rubber cube above a rubber ring.": "false",
        "a ring made of rubber.": "true",
        "a ring made of metal.": "false",
        "2 rings including a navy ring and a teal ring.": "false",
        "a teal cube in the bottom half.": "false",
        "a tiny big cube near a ring.": "malformed",
        "a teal navy cube near a ring.": "malformed",
        "an image of a teal cube and a navy ring.": "true",
        "an image of a teal cube, a navy ring.": "malformed",
        "a teal shape.": "malformed",
    }
    for text, verdict in labelled.items():
        assert oracle.judge("hand", text) == verdict, text
