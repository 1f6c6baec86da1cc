"""Scene-graph rewriting graded end to end against the targets, on small splits of the sample's caption
language and of the compositional scene language (words and templates unlike the sample's): the rewriting
sees only the captions, the oracle only grades."""
import json

import numpy as np
import pytest

from unimo_plugin.evaluation.negatives import grade_negatives
from unimo_plugin.formats.caption_sets import read_caption_records
from unimo_plugin.formats.cmcl_candidates import read_cmcl_raw
from unimo_plugin.preprocess.cmcl.scene_graph.run import rewrite_split
from unimo_plugin.testing import compositional_scenes
from unimo_plugin.testing.sample_oracle import SampleOracle
from unimo_plugin.testing.sample_scenes import captions as sample_captions
from unimo_plugin.testing.sample_scenes import sample_scene

IMAGES = 120


def sample_split(folder):
    rng = np.random.default_rng(5)
    images, lines = [], []
    for k in range(IMAGES):
        scene = sample_scene(rng)
        texts = sample_captions(scene, rng)
        images.append({"image_id": f"s{k}", "objects": [o._asdict() for o in scene.objects],
                       "sentences": [{"raw": t} for t in texts]})
        lines += [{"caption_id": f"s{k}:{n}", "image_id": f"s{k}", "text": t} for n, t in enumerate(texts)]
    (folder / "train.captions.jsonl").write_text("".join(json.dumps(c) + "\n" for c in lines))
    (folder / "dataset_sample.json").write_text(json.dumps({"images": images}))
    return SampleOracle(str(folder / "dataset_sample.json"), image_size=128)


def compositional_split(folder):
    return compositional_scenes.Oracle(compositional_scenes.write_split(str(folder), "train", 11, IMAGES))


@pytest.mark.parametrize("make_split", [sample_split, compositional_split], ids=["sample", "compositional"])
def test_rewrites_meet_the_targets(make_split, tmp_path):
    oracle = make_split(tmp_path)
    report = rewrite_split(str(tmp_path), "train", per_caption=3, seed=0)
    captions = read_caption_records(str(tmp_path), "train")
    negatives = read_cmcl_raw(report.runs[0].output, captions, "text")
    graded = grade_negatives(captions, negatives, oracle, lm_orders=(2, 3))
    unmet = [(name, round(value, 1), op, target) for name, value, op, target, met in graded.targets() if not met]
    assert not unmet, unmet
    assert graded.rewrites().negatives > 2 * len(captions)
