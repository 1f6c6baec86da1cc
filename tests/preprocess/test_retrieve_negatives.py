"""TF-IDF hard negatives: the rules (other images only, no near-duplicate of a true caption, each text
once), exactness against a dense brute force, invariance to chunks, shards and workers, the faiss path,
and retrieve_negatives.py end to end."""
import json
import os
import sys

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from unimo_plugin.cli.retrieve_negatives import main as cli_main
from unimo_plugin.common.artifacts import read_manifest
from unimo_plugin.formats.caption_sets import read_caption_records
from unimo_plugin.formats.cmcl_candidates import read_cmcl_raw
from unimo_plugin.preprocess.cmcl.tfidf_negatives import text_key, tfidf_negatives
from unimo_plugin.testing.commands import REPO_ROOT, run_cli

SCRIPT = os.path.join(REPO_ROOT, "data_scripts", "retrieve_negatives.py")
WORDS = {"det": ["a", "the", "two", "some"], "adj": ["red", "small", "old", "wooden", "happy"],
         "noun": ["dog", "cat", "man", "woman", "bus", "kite", "horse", "table", "boat", "tree"],
         "verb": ["runs", "sits", "stands", "waits", "jumps"], "prep": ["on", "near", "under", "beside"]}


def make_captions(num_images=30, seed=0):
    """Captions of shared words, with same-text repeats across images and near-duplicates within one."""
    rng = np.random.default_rng(seed)
    pick = lambda kind: str(rng.choice(WORDS[kind]))  # noqa: E731
    captions = []
    for image in range(num_images):
        base = f"{pick('det')} {pick('adj')} {pick('noun')} {pick('verb')} {pick('prep')} the {pick('noun')}"
        texts = [base + ".", f"{base} {pick('prep')} the {pick('noun')}.",
                 f"{pick('det')} {pick('noun')} {pick('verb')}."]
        if image % 5 == 0:
            texts.append(f"{base.upper()}!")  # equal to the first after normalisation
        captions += [{"caption_id": f"c{len(captions) + j}", "image_id": f"img{image}", "text": t}
                     for j, t in enumerate(texts)]
    captions.append({"caption_id": "lonely", "image_id": "img_lonely", "text": "zebra xylophone quartet"})
    captions.insert(7, dict(captions[0], caption_id="copy", image_id="img_copy"))  # another image, same text
    return captions


def columns(captions):
    return [c["text"] for c in captions], [c["image_id"] for c in captions]


def brute_force(texts, image_ids, k, threshold):
    """The definition, on a dense float64 similarity matrix."""
    matrix = TfidfVectorizer().fit_transform(texts).toarray()
    similarity = matrix @ matrix.T
    keys = [text_key(t) for t in texts]
    best = []
    for i in range(len(texts)):
        own = [t for t in range(len(texts)) if image_ids[t] == image_ids[i]]
        allowed = [j for j in np.argsort(-similarity[i], kind="stable")
                   if similarity[i, j] > 0 and image_ids[j] != image_ids[i]
                   and similarity[own, j].max() < threshold and keys[j] not in {keys[t] for t in own}]
        seen, kept = set(), []
        for j in allowed:
            if keys[j] not in seen:
                seen.add(keys[j])
                kept.append(j)
        best.append(kept[:k])
    return similarity, best


def test_matches_brute_force_and_follows_the_rules():
    captions = make_captions()
    texts, image_ids = columns(captions)
    k, threshold = 4, 0.8
    indices, scores = tfidf_negatives(texts, image_ids, k, duplicate_threshold=threshold)
    similarity, expected = brute_force(texts, image_ids, k, threshold)
    assert abs(similarity - threshold).min() > 1e-4  # no float32/float64 disagreement at the threshold
    keys = [text_key(t) for t in texts]
    for i, (row, row_scores) in enumerate(zip(indices, scores)):
        found = row[row >= 0]
        assert len(found) == len(expected[i])
        assert np.allclose(row_scores[:len(found)], similarity[i, expected[i]], atol=1e-5)  # same ranking
        assert np.all(row_scores[len(found):] == 0) and np.all(row[len(found):] == -1)
        assert np.allclose(row_scores[:len(found)], similarity[i, found], atol=1e-5)
        own = [t for t in range(len(texts)) if image_ids[t] == image_ids[i]]
        for j in found:
            assert image_ids[j] != image_ids[i]
            assert similarity[own, j].max() < threshold and keys[j] not in {keys[t] for t in own}
        assert len({keys[j] for j in found}) == len(found)
    lonely = image_ids.index("img_lonely")
    assert list(indices[lonely]) == [-1] * k  # no caption shares a word with it
    first, copy = 0, image_ids.index("img_copy")
    assert copy not in indices[first] and first not in indices[copy]  # same text, another image: skipped
    assert len(set(indices.ravel()) - {-1}) > len(texts) // 2


@pytest.mark.slow  # worker processes
def test_chunks_shards_and_workers_do_not_change_the_result():
    texts, image_ids = columns(make_captions())
    whole = tfidf_negatives(texts, image_ids, 3)
    for options in [dict(chunk_size=1), dict(chunk_size=5), dict(max_products=1), dict(workers=2, chunk_size=8)]:
        got = tfidf_negatives(texts, image_ids, 3, **options)
        assert np.array_equal(got[0], whole[0]) and np.array_equal(got[1], whole[1]), options
    bounds = [0, 11, 12, 50, len(texts)]  # shards that cut images apart
    shards = [tfidf_negatives(texts, image_ids, 3, chunk_size=4, query_range=(a, b))
              for a, b in zip(bounds, bounds[1:])]
    assert np.array_equal(np.concatenate([s[0] for s in shards]), whole[0])
    assert np.array_equal(np.concatenate([s[1] for s in shards]), whole[1])


def test_faiss_path():
    texts, image_ids = columns(make_captions())
    exact = tfidf_negatives(texts, image_ids, 3)
    # Seeing every caption as a candidate, the faiss path re-scores them exactly: the same answer.
    every = tfidf_negatives(texts, image_ids, 3, faiss=True, candidates=len(texts), chunk_size=7)
    assert np.array_equal(every[0], exact[0]) and np.allclose(every[1], exact[1], atol=1e-6)
    runs = [tfidf_negatives(texts, image_ids, 3, faiss=True, faiss_dim=8, nlist=4, nprobe=2, seed=seed)
            for seed in (5, 5, 6)]
    assert np.array_equal(runs[0][0], runs[1][0]) and np.array_equal(runs[0][1], runs[1][1])  # --seed
    found = runs[0][0] >= 0
    assert found.mean() > 0.5
    assert np.all(runs[0][1][found] <= exact[1][:, :1].repeat(3, 1)[found] + 1e-6)  # never above the best

    # The nearest 3 of a caption are copies of it (skipped): the search widens until negatives turn up.
    texts = ["a red dog runs on grass"] * 12 + ["a red dog sleeps", "a red cat runs", "a blue dog runs"]
    image_ids = [f"image{n}" for n in range(len(texts))]
    exact = tfidf_negatives(texts, image_ids, 2)
    widened = tfidf_negatives(texts, image_ids, 2, faiss=True, candidates=3)
    assert np.all(widened[0] >= 0) and np.allclose(widened[1], exact[1], atol=1e-6)


def test_bad_arguments():
    with pytest.raises(ValueError, match="3 image ids for 2 texts"):
        tfidf_negatives(["a b", "c d"], ["1", "2", "3"], 2)
    with pytest.raises(ValueError, match="TF-IDF: .*vocabulary"):
        tfidf_negatives(["a", "b"], ["1", "2"], 2)  # one-letter words are no terms


def write_pairs(directory, captions, split="train"):
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, f"{split}.captions.jsonl"), "w", encoding="utf-8") as f:
        for caption in captions:
            f.write(json.dumps(caption) + "\n")
    return str(directory)


@pytest.mark.slow
def test_cli_end_to_end(tmp_path):
    captions = make_captions()
    pairs = write_pairs(tmp_path / "pairs", captions)
    proc = run_cli([sys.executable, SCRIPT, "--pairs", pairs, "--per-caption", "3", "--no-progress"])
    output = os.path.join(pairs, "train.cmcl_raw.negatives.tfidf.jsonl")
    items = read_cmcl_raw(output, read_caption_records(pairs, "train"), "text")
    texts, image_ids = columns(captions)
    expected, _ = tfidf_negatives(texts, image_ids, 3)
    assert [[item["swapped"]["caption_id"] for item in row] for row in items] == \
        [[captions[j]["caption_id"] for j in row if j >= 0] for row in expected]
    item = items[0][0]
    assert item["level"] == "sentence" and item["swapped"]["kind"] == "retrieved"
    assert item["text"] == next(c["text"] for c in captions if c["caption_id"] == item["swapped"]["caption_id"])
    manifest = read_manifest(output)
    assert manifest["content"] == "negatives/tfidf" and manifest["captions"] == len(captions)
    assert manifest["run"]["options"]["per_caption"] == 3 and manifest["run"]["stats"]["captions"] == len(captions)
    assert "captions_with_fewer_than_3: 1" in proc.stdout  # the lonely caption


def test_shards_merge_resume_and_seed(tmp_path, capsys):
    pairs = write_pairs(tmp_path / "pairs", make_captions())
    common = ["--pairs", pairs, "--per-caption", "3", "--no-progress", "--faiss", "--faiss-dim", "8", "--nlist", "4"]
    whole = str(tmp_path / "whole.jsonl")
    cli_main(common + ["--output", whole])
    again = str(tmp_path / "again.jsonl")
    cli_main(common + ["--output", again])
    assert open(again).read() == open(whole).read()  # same --seed, same file

    sharded = str(tmp_path / "sharded.jsonl")
    for shard in (2, 0):
        cli_main(common + ["--output", sharded, "--num-shards", "3", "--shard-id", str(shard)])
    with pytest.raises(SystemExit) as exit_info:
        cli_main(common + ["--output", sharded, "--num-shards", "3", "--merge"])
    assert exit_info.value.code == 1
    assert f"1 of 3 shard(s) not complete: {sharded}.shard1-of-3" in capsys.readouterr().err
    for shard in (0, 1):  # shard 0 again: resumed, not redone
        cli_main(common + ["--output", sharded, "--num-shards", "3", "--shard-id", str(shard)])
    assert "already complete, skipped" in capsys.readouterr().out
    cli_main(common + ["--output", sharded, "--num-shards", "3", "--merge"])
    assert open(sharded).read() == open(whole).read()
    assert read_manifest(sharded)["run"]["stats"]["items"] == read_manifest(whole)["run"]["stats"]["items"]

    mixed = common + ["--output", str(tmp_path / "mixed.jsonl"), "--num-shards", "2"]
    cli_main(mixed + ["--shard-id", "0"])
    cli_main(mixed + ["--shard-id", "1", "--seed", "1"])
    with pytest.raises(SystemExit):  # shards made with other options are not merged
        cli_main(mixed + ["--merge"])
    assert f"shard {tmp_path / 'mixed.jsonl'}.shard1-of-2 was made with other option seed: 1, this run 0" in \
        capsys.readouterr().err


def test_bad_input_is_named(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["--pairs", str(tmp_path / "nowhere"), "--no-progress"])
    assert exit_info.value.code == 1 and "nowhere/train.captions.jsonl" in capsys.readouterr().err
    captions = make_captions(3)
    pairs = write_pairs(tmp_path / "pairs", captions)
    with open(os.path.join(pairs, "train.captions.jsonl"), "a") as f:
        f.write('{"caption_id": "x", "text": "no image id"}\n')
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["--pairs", pairs, "--no-progress"])
    assert exit_info.value.code == 1
    assert f"{pairs}/train.captions.jsonl:{len(captions) + 1}: not a caption record" in capsys.readouterr().err
