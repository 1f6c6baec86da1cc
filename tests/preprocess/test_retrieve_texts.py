"""Retrieved texts (XT): the corpus reader, TF-IDF retrieval against a dense brute force, the embedding
path with faiss, invariance to chunks, shards and workers, and retrieve_texts.py end to end."""
import json
import os
import sys

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from unimo_plugin.cli.retrieve_texts import main as cli_main
from unimo_plugin.common.artifacts import InputError, read_manifest
from unimo_plugin.formats.caption_sets import read_caption_records
from unimo_plugin.formats.cmcl_candidates import read_cmcl_raw, text_key
from unimo_plugin.preprocess.cmcl.text_retrieval import SentenceTransformerEncoder, read_corpus, similar_texts
from unimo_plugin.testing.commands import REPO_ROOT, run_cli

SCRIPT = os.path.join(REPO_ROOT, "data_scripts", "retrieve_texts.py")
CORPUS = """A dog runs on the grass.

the cat sleeps on a warm sofa
a man rides a horse on the beach.
a dog runs on the grass
Two boats float near a wooden pier.
a woman holds a red umbrella in the rain.
the dog sleeps on the grass.

a red bus waits at the station.
the horse eats hay in a barn.
"""
CAPTIONS = [("i1", "a dog runs on the grass"), ("i1", "a brown dog in a park"), ("i2", "a man rides a horse"),
            ("i2", "a horse on a beach with a rider"), ("i3", "a red umbrella in the rain"),
            ("i4", "zebra xylophone quartet"), ("i3", "a woman holds a red umbrella in the rain!")]


@pytest.fixture
def corpus_file(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text(CORPUS, encoding="utf-8")
    return str(path)


def columns():
    return [text for _, text in CAPTIONS], [image for image, _ in CAPTIONS]


def brute_force(texts, image_ids, corpus, k, similarity, min_score=-np.inf):
    """The definition on a dense similarity matrix (captions x corpus)."""
    best = []
    for i in range(len(texts)):
        true = {text_key(t) for t, image in zip(texts, image_ids) if image == image_ids[i]}
        allowed = [j for j in np.argsort(-similarity[i], kind="stable")
                   if text_key(corpus[j]) not in true and similarity[i, j] >= min_score and similarity[i, j] != 0]
        best.append(allowed[:k])
    return best


def test_read_corpus(corpus_file, tmp_path):
    sentences, counts = read_corpus(corpus_file)
    assert sentences[:3] == ["A dog runs on the grass.", "the cat sleeps on a warm sofa",
                             "a man rides a horse on the beach."]
    assert len(sentences) == 8 and counts == {"corpus_sentences": 9, "corpus_repeats_dropped": 1}
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"fine line\n\nbroken \xff byte\n")
    with pytest.raises(InputError, match=r"bad\.txt:3: not valid UTF-8"):
        read_corpus(str(bad))


def test_tfidf_matches_brute_force(corpus_file):
    corpus, _ = read_corpus(corpus_file)
    texts, image_ids = columns()
    matrix = TfidfVectorizer().fit_transform(corpus + texts).toarray()
    similarity = matrix[len(corpus):] @ matrix[:len(corpus)].T
    for k, min_score in [(3, None), (8, 0.3)]:
        indices, scores = similar_texts(texts, image_ids, corpus, k, min_score=min_score)
        expected = brute_force(texts, image_ids, corpus, k, similarity, -np.inf if min_score is None else min_score)
        for i, row in enumerate(indices):
            found = row[row >= 0]
            assert len(found) == len(expected[i])
            assert np.allclose(scores[i, :len(found)], similarity[i, expected[i]], atol=1e-5)
            assert np.allclose(scores[i, :len(found)], similarity[i, found], atol=1e-5)
    indices, _ = similar_texts(texts, image_ids, corpus, 3)
    assert corpus.index("A dog runs on the grass.") not in indices[0]  # the caption itself, not a retrieval
    assert corpus.index("a woman holds a red umbrella in the rain.") not in indices[4]  # a true caption of i3
    assert list(indices[5]) == [-1, -1, -1]  # no shared word
    assert corpus[indices[2][0]] == "a man rides a horse on the beach."


@pytest.mark.slow  # worker processes
def test_chunks_shards_and_workers(corpus_file):
    corpus, _ = read_corpus(corpus_file)
    texts, image_ids = columns()
    whole = similar_texts(texts, image_ids, corpus, 2)
    for options in [dict(chunk_size=1), dict(max_products=1), dict(workers=2, chunk_size=3)]:
        got = similar_texts(texts, image_ids, corpus, 2, **options)
        assert np.array_equal(got[0], whole[0]) and np.array_equal(got[1], whole[1]), options
    shards = [similar_texts(texts, image_ids, corpus, 2, query_range=span) for span in [(0, 3), (3, 4), (4, 7)]]
    assert np.array_equal(np.concatenate([s[0] for s in shards]), whole[0])


class BagOfLetters:
    """A stand-in sentence encoder: normalised letter counts."""

    def __call__(self, texts):
        vectors = np.zeros((len(texts), 26), np.float32)
        for row, text in enumerate(texts):
            for letter in text.lower():
                if "a" <= letter <= "z":
                    vectors[row, ord(letter) - ord("a")] += 1
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def test_embedding_path_with_faiss(corpus_file):
    corpus, _ = read_corpus(corpus_file)
    texts, image_ids = columns()
    encoder = BagOfLetters()
    similarity = encoder(texts) @ encoder(corpus).T
    indices, scores = similar_texts(texts, image_ids, corpus, 3, encoder=encoder, chunk_size=2)
    expected = brute_force(texts, image_ids, corpus, 3, similarity)
    for i, row in enumerate(indices):
        assert np.allclose(scores[i], similarity[i, expected[i]], atol=1e-5)
        assert np.allclose(scores[i], similarity[i, row], atol=1e-5)
    clustered = [similar_texts(texts, image_ids, corpus, 3, encoder=encoder, nlist=2, nprobe=1, seed=3)
                 for _ in range(2)]
    assert np.array_equal(clustered[0][0], clustered[1][0])  # seeded clustering: reproducible
    high = similar_texts(texts, image_ids, corpus, 3, encoder=encoder, min_score=0.9)
    assert np.all((high[1] >= 0.9) | (high[0] == -1))


def write_pairs(directory, split="train"):
    os.makedirs(directory)
    with open(os.path.join(directory, f"{split}.captions.jsonl"), "w") as f:
        for n, (image, text) in enumerate(CAPTIONS):
            f.write(json.dumps({"caption_id": f"c{n}", "image_id": image, "text": text}) + "\n")
    return str(directory)


@pytest.mark.slow
def test_cli_end_to_end(tmp_path, corpus_file, capsys):
    pairs = write_pairs(tmp_path / "pairs")
    proc = run_cli([sys.executable, SCRIPT, "--pairs", pairs, "--corpus", corpus_file, "--per-caption", "2",
                    "--no-progress"])
    output = os.path.join(pairs, "train.cmcl_raw.texts.tfidf.jsonl")
    items = read_cmcl_raw(output, read_caption_records(pairs, "train"), "text")
    corpus, _ = read_corpus(corpus_file)
    indices, scores = similar_texts(*columns(), corpus, 2)
    assert items == [[{"text": corpus[j], "score": round(float(s), 6)} for j, s in zip(row, row_scores) if j >= 0]
                     for row, row_scores in zip(indices, scores)]
    assert "corpus_repeats_dropped: 1" in proc.stdout and read_manifest(output)["content"] == "texts/tfidf"

    common = ["--pairs", pairs, "--corpus", corpus_file, "--no-progress", "--min-score", "0.2"]
    whole = str(tmp_path / "whole.jsonl")
    cli_main(common + ["--output", whole])
    sharded = str(tmp_path / "sharded.jsonl")
    for shard in range(2):
        cli_main(common + ["--output", sharded, "--num-shards", "2", "--shard-id", str(shard)])
    cli_main(common + ["--output", sharded, "--num-shards", "2", "--merge"])
    assert open(sharded).read() == open(whole).read()
    capsys.readouterr()

    with pytest.raises(SystemExit) as exit_info:
        cli_main(["--pairs", pairs, "--corpus", str(tmp_path / "missing.txt"), "--output", str(tmp_path / "x.jsonl")])
    assert exit_info.value.code == 1 and "missing.txt" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli_main(["--pairs", pairs, "--corpus", corpus_file, "--encoder", "sentence-transformers"])
    assert "needs --model DIR" in capsys.readouterr().err


def test_sentence_transformers_model(tmp_path, corpus_file):
    st = pytest.importorskip("sentence_transformers", reason="sentence-transformers is an optional dependency "
                                                              "(pip install sentence-transformers)")
    from tokenizers import Tokenizer, models, pre_tokenizers
    try:
        from sentence_transformers.models import StaticEmbedding
    except ImportError:  # sentence-transformers >= 6 moved it
        from sentence_transformers.sentence_transformer.modules import StaticEmbedding

    words = sorted({w for line in CORPUS.lower().split() for w in [line.strip(".!")]} | {"[UNK]"})
    tokenizer = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    embeddings = np.random.default_rng(0).standard_normal((len(words), 16)).astype(np.float32)
    model_dir = str(tmp_path / "model")
    st.SentenceTransformer(modules=[StaticEmbedding(tokenizer, embedding_weights=embeddings)]).save(model_dir)
    encoder = SentenceTransformerEncoder(model_dir, device="cpu")
    assert np.allclose(np.linalg.norm(encoder(["a dog", "the red bus"]), axis=1), 1, atol=1e-5)
    pairs = write_pairs(tmp_path / "pairs")
    cli_main(["--pairs", pairs, "--corpus", corpus_file, "--no-progress", "--encoder", "sentence-transformers",
              "--model", model_dir, "--device", "cpu"])
    items = read_cmcl_raw(os.path.join(pairs, "train.cmcl_raw.texts.sentence-transformers.jsonl"),
                          read_caption_records(pairs, "train"), "text")
    assert all(len(row) == 3 for row in items)


def test_missing_model_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a directory holding a sentence-transformers model"):
        SentenceTransformerEncoder(str(tmp_path / "nowhere"))
