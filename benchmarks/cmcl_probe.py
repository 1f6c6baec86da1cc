"""What a pretrained checkpoint's CMCL embeddings hold, on the sample data: which traits of the image and
of the caption they encode, and which they ignore.

For each kind of word- and phrase-level rewrite of the training captions (``TYPE`` = colour, size, noun,
position, ...), on the first caption of the first ``--images`` training images that have one:

  text cosine   mean cosine of the pooled caption and its rewrite: 1.000 means the text embedding does not
                change when that word does, so no image can score the rewrite below the caption;
  state cosine  the same of what the pooler (FC + activation) reads, the mean of the final token states
                (``--pooling mean``) or the ``<s>`` state: where it is lower than the text cosine, the
                pooler drops a difference the encoder made;
  accuracy      how often the image scores its caption above the rewrite (the training data's own swaps).

And a linear probe (scikit-learn logistic regression, fit on the single-object training images, scored on
the single-object held-out ones) of the pooled image embedding for each object's shape, colour and size,
beside the same probe of the raw region features (what the detector gives the model to read).

    python benchmarks/cmcl_probe.py ablation_work/runs/400_updates/none_seed1/checkpoint_last.pt \
        --data ablation_work/data
"""
import argparse
import collections
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from unimo_plugin.evaluation.compositional import Item, Scorer, load_checkpoint, score_items  # noqa: E402
from unimo_plugin.formats.caption_sets import read_caption_records  # noqa: E402
from unimo_plugin.formats.cmcl_candidates import read_cmcl_raw  # noqa: E402
from unimo_plugin.formats.region_store import RegionStore  # noqa: E402

TRAITS = ("shape", "colour", "size")


def rewrite_items(pairs, images):
    """Per rewrite kind ``LEVEL-KIND-TYPE``, (caption, rewrite, image id) of the first caption of each of the
    first ``images`` training images that has one."""
    captions = read_caption_records(pairs, "train")
    negatives = read_cmcl_raw(os.path.join(pairs, "train.cmcl_raw.negatives.scene_graph.jsonl"), captions, "text")
    by_kind, seen = collections.defaultdict(dict), []
    for caption, items in zip(captions, negatives):
        if caption["image_id"] not in seen:
            if len(seen) == images:
                break
            seen.append(caption["image_id"])
        for x in items:
            kind = f"{x['level']}-{x['swapped']['kind']}-{x['swapped'].get('type', '')}"
            by_kind[kind].setdefault(caption["image_id"], (caption["text"], x["text"], caption["image_id"]))
    return {kind: list(found.values()) for kind, found in sorted(by_kind.items())}


def probe(features, labels, train):
    """Held-out accuracy of a logistic regression on standardised ``features``."""
    from sklearn.linear_model import LogisticRegression

    x = (features - features[train].mean(0)) / (features[train].std(0) + 1e-6)
    model = LogisticRegression(max_iter=3000).fit(x[train], labels[train])
    return 100 * model.score(x[~train], labels[~train])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint")
    p.add_argument("--data", required=True, help="the sample DATA dir the checkpoint was pretrained on")
    p.add_argument("--images", type=int, default=600, help="training images whose rewrites are scored")
    p.add_argument("--max-regions", type=int, default=10)
    args = p.parse_args(argv)

    model, task = load_checkpoint(args.checkpoint, args.data)
    store = RegionStore(os.path.join(args.data, "pair_regions"))
    scorer = Scorer(model, task, store, max_regions=args.max_regions)
    print(f"{'rewrite kind':<26} {'items':>5} {'text cosine':>11} {'state cosine':>12} {'accuracy':>8}")
    for kind, triples in rewrite_items(os.path.join(args.data, "pairs"), args.images).items():
        captions, rewrites = [t[0] for t in triples], [t[1] for t in triples]
        cosine = (scorer.texts(captions) * scorer.texts(rewrites)).sum(1).mean()
        states = (scorer.texts(captions, pooled=False) * scorer.texts(rewrites, pooled=False)).sum(1).mean()
        items = [Item(kind, image, caption, rewrite) for caption, rewrite, image in triples]
        accuracy = score_items(scorer, items, mean_image=False)[0]["all"].accuracy
        print(f"{kind:<26} {len(triples):>5} {cosine.item():>11.4f} {states.item():>12.4f} {accuracy:>7.1f}%")

    with open(os.path.join(args.data, "raw", "dataset_sample.json"), encoding="utf-8") as f:
        scenes = json.load(f)["images"]
    row = {image_id: i for i, image_id in enumerate(store.ids)}
    single = [s for s in scenes if len(s["objects"]) == 1 and s["image_id"] in row]
    train = np.array([s["split"] == "train" for s in single])
    pooled = scorer.images([(row[s["image_id"]], None) for s in single]).numpy()
    raw = np.stack([np.asarray(store[row[s["image_id"]]].features[0], dtype=np.float32) for s in single])
    print(f"\nlinear probe of single-object images ({train.sum()} train, {(~train).sum()} held out), held-out accuracy:")
    print(f"{'trait':<8} {'classes':>7} {'majority':>8} {'pooled image':>12} {'region features':>15}")
    for trait in TRAITS:
        labels = np.array([s["objects"][0][trait] for s in single])
        majority = 100 * max(np.mean(labels[~train] == c) for c in set(labels))
        print(f"{trait:<8} {len(set(labels)):>7} {majority:>7.1f}% {probe(pooled, labels, train):>11.1f}% "
              f"{probe(raw, labels, train):>14.1f}%")


if __name__ == "__main__":
    main()
