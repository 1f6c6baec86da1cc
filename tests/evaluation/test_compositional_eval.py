"""unimo-eval-compositional on a tiny pretrained checkpoint: SugarCrepe and ARO items read, images found in a
region store under their file names, the accuracy per category computed as by hand from the model's own
embeddings; and the sample data's swap set, valid by its oracle and one swap away from its caption."""
import json

import numpy as np
import pytest
import torch
from fairseq.data import data_utils

from unimo_plugin.cli.eval_compositional import main
from unimo_plugin.data.collate import collate_regions
from unimo_plugin.data.region_inputs import load_regions
from unimo_plugin.evaluation.compositional import load_checkpoint, read_items
from unimo_plugin.formats.region_store import RegionStore
from unimo_plugin.testing import synthetic_corpora
from unimo_plugin.testing.sample_oracle import FALSE, SampleOracle, parse
from unimo_plugin.testing.sample_scenes import captions as sample_captions
from unimo_plugin.testing.sample_scenes import sample_scene
from unimo_plugin.testing.sample_swaps import CATEGORIES, write_swap_set
from unimo_plugin.testing.tiny_models import train_tiny_pretraining


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    root = tmp_path_factory.mktemp("compositional")
    d = synthetic_corpora.dictionary()
    data = synthetic_corpora.build(str(root / "data"), d, num_images=40)
    return data, train_tiny_pretraining(data, root / "ckpt", 40), d


def words(d, tokens):
    return " ".join(d[int(t)] for t in tokens if int(t) != d.eos())


@pytest.fixture(scope="module")
def items(pretrained, tmp_path_factory):
    """SugarCrepe files: the training captions of images 0..19 with their first word (the one the image's
    features carry) replaced (replace-obj), or two later words exchanged (swap-att); image 99 is missing."""
    data, _, d = pretrained
    folder = tmp_path_factory.mktemp("sugarcrepe")
    captions = data_utils.load_indexed_dataset(f"{data}/pairs/train", d)
    rows = np.load(f"{data}/pairs/train.image_rows.npy")
    replace, swap = {}, {}
    for i in range(0, 40, 2):
        text = words(d, captions[i])
        first, *rest = text.split()
        other = str(1000 + (int(first) - 1000 + 1) % 7)
        replace[str(i)] = {"filename": f"{rows[i]}.jpg", "caption": text, "negative_caption": " ".join([other] + rest)}
        swapped = text.split()
        swapped[2], swapped[3] = swapped[3], swapped[2]
        swap[str(i)] = {"filename": f"{rows[i]:012d}.jpg", "caption": text, "negative_caption": " ".join(swapped)}
    replace["missing"] = {"filename": "99.jpg", "caption": "1000", "negative_caption": "1001"}
    (folder / "replace_obj.json").write_text(json.dumps(replace))
    (folder / "swap_att.json").write_text(json.dumps(swap))
    aro = [{"image_path": f"images/{r['filename']}", "bbox_x": 0, "bbox_y": 0, "bbox_w": 100, "bbox_h": 100,
            "true_caption": r["caption"], "false_caption": r["negative_caption"], "relation_name": "x"}
           for r in replace.values()]
    (folder.parent / "vg_relation.json").write_text(json.dumps(aro))
    return folder


@torch.no_grad()
def by_hand(checkpoint, data, store, items):
    """Accuracy of items: each image and text embedded alone, straight through the model."""
    model, task = load_checkpoint(checkpoint)
    model.eval()
    d = task.source_dictionary
    wins = []
    for item in items:
        row = store.row_of(item.image.split("/")[-1].split(".")[0].lstrip("0") or "0")
        regions = collate_regions([load_regions(store, row, 100)])
        image = model.pooled_image(model.extract_features(regions=regions["features"], boxes=regions["boxes"],
                                                          region_padding_mask=regions["padding_mask"])[1])
        scores = []
        for text in (item.caption, item.negative):
            tokens = torch.cat([torch.tensor([d.bos()]), d.encode_line(text, add_if_not_exist=False).long()])
            scores.append(torch.nn.functional.cosine_similarity(
                image, model.pooled_text(model.extract_features(tokens[None])[0])).item())
        wins.append(1.0 if scores[0] > scores[1] else 0.5 if scores[0] == scores[1] else 0.0)
    return 100 * np.mean(wins)


def test_accuracy_per_category_as_by_hand(pretrained, items, tmp_path, capsys):
    data, checkpoint, _ = pretrained
    store = RegionStore(f"{data}/pair_store")
    results = main([checkpoint, "--items", str(items / "replace_obj.json"), "--regions", f"{data}/pair_store",
                    "--json", str(tmp_path / "out.json")])
    printed = capsys.readouterr().out
    present = [i for i in read_items(str(items / "replace_obj.json"), "sugarcrepe") if i.image != "99.jpg"]
    assert results["replace-obj"].items == 20
    assert results["replace-obj"].accuracy == pytest.approx(by_hand(checkpoint, data, store, present), abs=1e-4)
    assert 0 <= results["replace-obj"].mean_image_accuracy <= 100
    assert "1 items skipped: their image is not in the region store" in printed
    assert f"{results['replace-obj'].accuracy:.1f}%   50.0%" in printed
    assert json.loads((tmp_path / "out.json").read_text())["missing"] == 1
    # a folder: every category file; zero-padded numeric file names find their image
    both = main([checkpoint, "--items", str(items), "--regions", f"{data}/pair_store"])
    assert set(both) == {"replace-obj", "swap-att", "all"} and both["swap-att"].items == 20
    assert both["all"].items == 40
    # ARO with a box around the whole image: the same items, the same accuracy
    aro = main([checkpoint, "--items", str(items.parent / "vg_relation.json"), "--format", "aro-relation",
                "--regions", f"{data}/pair_store"])
    assert aro["vg-relation"].accuracy == pytest.approx(results["replace-obj"].accuracy)


def test_bad_items_are_reported(pretrained, tmp_path, capsys):
    data, checkpoint, _ = pretrained
    bad = tmp_path / "replace_att.json"
    bad.write_text(json.dumps({"1": {"filename": "1.jpg", "caption": "1000"}}))
    with pytest.raises(SystemExit):
        main([checkpoint, "--items", str(bad), "--regions", f"{data}/pair_store"])
    assert "item '1' lacks filename, caption or negative_caption" in capsys.readouterr().err


def test_sample_swap_set_is_valid_and_one_swap_away(tmp_path):
    rng = np.random.default_rng(1)
    scenes = [sample_scene(rng) for _ in range(30)]
    images = [{"image_id": f"s{k}", "split": "test", "objects": [o._asdict() for o in s.objects],
               "sentences": [{"raw": t} for t in sample_captions(s, rng)]} for k, s in enumerate(scenes)]
    path = tmp_path / "dataset_sample.json"
    path.write_text(json.dumps({"images": images}))
    counts = write_swap_set(str(path), "test", str(tmp_path / "swaps"))
    assert all(counts[c] > 0 for c in CATEGORIES) and counts["replace-att"] > 100
    oracle = SampleOracle(str(path), image_size=128)
    for item in read_items(str(tmp_path / "swaps"), "sugarcrepe"):
        image = item.image[:-len(".png")]
        assert oracle.judge(image, item.caption) == "true" and oracle.judge(image, item.negative) == FALSE
        before, after = item.caption.split(), item.negative.split()
        changed = [i for i, (a, b) in enumerate(zip(before, after)) if a != b and {a, b} != {"a", "an"}]
        assert len(before) == len(after) and len(changed) == (2 if item.category.startswith("swap") else 1), item
        assert parse(item.negative) is not None
