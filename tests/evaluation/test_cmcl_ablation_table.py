"""benchmarks/cmcl_ablation.py's pure parts: the paraphrase TSV from the other captions of an image, the
parsing of unimo-eval-retrieval's output and fairseq's JSON log, and the table's mean ± spread over seeds."""
import importlib.util
import os

import pytest

from unimo_plugin.testing.commands import REPO_ROOT

_spec = importlib.util.spec_from_file_location("cmcl_ablation", os.path.join(REPO_ROOT, "benchmarks", "cmcl_ablation.py"))
ablation = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ablation)  # puts benchmarks/ on sys.path, for pretrain_runs beside it
import pretrain_runs  # noqa: E402


def test_paraphrases_are_the_other_captions_of_the_same_image():
    captions = [{"caption_id": "c1", "image_id": "i1", "text": "a red circle."},
                {"caption_id": "c2", "image_id": "i2", "text": "a blue star."},
                {"caption_id": "c3", "image_id": "i1", "text": "one red circle."},
                {"caption_id": "c4", "image_id": "i1", "text": "a circle that is red."}]
    assert ablation.paraphrase_lines(captions) == [
        "c1\tone red circle.", "c1\ta circle that is red.",
        "c3\ta red circle.", "c3\ta circle that is red.",
        "c4\ta red circle.", "c4\tone red circle."]  # c2's image has no other caption


def test_parse_retrieval_output():
    text = ("zero-shot retrieval on d/pairs/test: 200 images, 923 captions (CMCL similarity)\n"
            "         image->text    chance   text->image    chance\n"
            "R@1             11.5       0.5           9.0       0.5\n"
            "R@5             40.5       2.5          38.8       2.5\n")
    assert ablation.parse_retrieval(text) == {1: (11.5, 9.0), 5: (40.5, 38.8)}
    with pytest.raises(ValueError):
        ablation.parse_retrieval("Traceback ...\n")


def test_log_records_and_run_figures():
    log = ['2026-12-02 | INFO | train_inner | {"epoch": 1, "num_updates": "50", "cmcl_loss": "4.9"}',
           "2026-12-02 | INFO | fairseq_cli.train | done training",
           '2026-12-02 | INFO | train_inner | {"epoch": 1, "num_updates": "100", "cmcl_loss": "3.5", '
           '"cmcl_chance": "4.86"}']
    records = list(pretrain_runs.log_records(log))
    assert [r["num_updates"] for r in records] == ["50", "100"]
    comp = {"missing": 0, "categories": {
        "replace-att": {"items": 10, "accuracy": 60.0, "mean_image_accuracy": 50.0},
        "all": {"items": 10, "accuracy": 60.0, "mean_image_accuracy": 52.0}}}
    row = ablation.run_figures({1: (10.0, 8.0), 5: (40.0, 36.0)}, comp, records)
    assert row == {"R@1": 9.0, "R@5": 38.0, "replace-att": 60.0, "replace-att (mean image)": 50.0, "all": 60.0, "all (mean image)": 52.0,
                   "cmcl_loss": 3.5, "cmcl_chance": 4.86}


def test_table_mean_and_spread_over_seeds():
    rows = {("none", 1): {"R@1": 10.0, "all": 50.0}, ("none", 2): {"R@1": 14.0, "all": 54.0},
            ("all", 1): {"R@1": 5.0}}
    lines = ablation.table(rows, ["none", "all"], [1, 2], 400).splitlines()
    assert lines[0].startswith("| recipe (400 updates, seeds 1, 2) | R@1 | R@5 |")
    none = lines[2].split(" | ")
    assert none[0] == "| (a) in-batch only" and none[1] == "12.0 ± 2.8"  # stdev of 10, 14 = 2.83
    assert none[2] == ""  # no R@5 figures
    assert lines[3].split(" | ")[1] == "5.0 ± 0.0"  # one seed: no spread


def test_training_negative_items():
    captions = [{"caption_id": "c1", "image_id": "i1", "text": "a red circle."},
                {"caption_id": "c2", "image_id": "i1", "text": "one red circle."},
                {"caption_id": "c3", "image_id": "i2", "text": "a blue star."},
                {"caption_id": "c4", "image_id": "i3", "text": "a green square."}]
    negatives = [[{"text": "a blue circle.", "level": "word"}, {"text": "a red star.", "level": "word"},
                  {"text": "a big blue star.", "level": "phrase"}], [], [{"text": "a red circle.", "level": "sentence"}],
                 []]
    items = ablation.training_negative_items(captions, negatives, images=2)
    assert items["in-batch"] == {"c1": {"filename": "i1", "caption": "a red circle.", "negative_caption": "a blue star."},
                                 "c3": {"filename": "i2", "caption": "a blue star.", "negative_caption": "a green square."}}
    assert items["word"] == {"c1": {"filename": "i1", "caption": "a red circle.", "negative_caption": "a blue circle."}}
    assert list(items["phrase"]) == ["c1"] and list(items["sentence"]) == ["c3"]
