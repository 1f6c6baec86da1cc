"""Fine-tune with fairseq-train, decode with stock fairseq-generate / fairseq-interactive (subprocesses)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from unimo_plugin.common.artifacts import write_manifest
from unimo_plugin.formats.region_store import RegionStoreWriter
from unimo_plugin.testing.commands import REPO_ROOT, fairseq_bin, run_cli
from unimo_plugin.testing.synthetic_corpora import write_tokens

COLOURS, SHAPES = ["red", "green", "blue", "yellow", "purple"], ["star", "square", "circle", "triangle"]
TINY = ["--arch", "unimo_tiny", "--encoder-layers", "2", "--encoder-embed-dim", "64", "--encoder-ffn-embed-dim",
        "128", "--encoder-attention-heads", "2", "--dropout", "0", "--attention-dropout", "0"]
CAPTION = ["--user-dir", os.path.join(REPO_ROOT, "unimo_plugin"), "--task", "unimo_caption"]
TRAIN = ["--criterion", "label_smoothed_cross_entropy", "--label-smoothing", "0.1", "--optimizer", "adam",
         "--lr", "2e-3", "--lr-scheduler", "inverse_sqrt", "--warmup-updates", "30", "--batch-size", "16",
         "--no-epoch-checkpoints", "--num-workers", "0", "--seed", "1", "--log-format", "simple"]


def _class_probs(colour, shape, num_regions):
    """Detector classes background, colours, shapes: even regions are confidently the colour, odd ones
    most likely background but the shape above the tag threshold, so the tags read "colour shape"."""
    probs = np.zeros((num_regions, 1 + len(COLOURS) + len(SHAPES)))
    colour, shape = 1 + colour, 1 + len(COLOURS) + shape
    probs[0::2, [0, colour, shape]] = 0.2, 0.6, 0.2
    probs[1::2, [0, colour, shape]] = 0.45, 0.2, 0.35
    return probs


def _caption_data(root, code_in_features=True):
    """Images whose regions carry a colour and shape code in their features (or only in their class
    probabilities); each image's caption names them. ``DATA/tags`` names the detector classes.

    Symbols are words of the dictionary (no BPE), so generated captions compare as plain text.
    """
    from fairseq.data import Dictionary

    d = Dictionary()
    for word in COLOURS + SHAPES:
        d.add_symbol(word)
    d.save(os.path.join(root, "dict.txt"))
    write_tokens(os.path.join(root, "tags"), [[d.eos()]] + [[d.index(w), d.eos()] for w in COLOURS + SHAPES], len(d))
    rng = np.random.default_rng(0)
    store = os.path.join(root, "regions")
    images = [(c, s) for c in range(len(COLOURS)) for s in range(len(SHAPES))]
    splits = {"train": images * 4, "valid": images[:6], "test": images}
    with RegionStoreWriter(store, len(COLOURS) + len(SHAPES), "float32", 1 + len(COLOURS) + len(SHAPES)) as writer:
        rows = {}
        for split, pairs in splits.items():
            rows[split] = []
            for i, (c, s) in enumerate(pairs):
                n = int(rng.integers(2, 5))
                code = np.zeros(len(COLOURS) + len(SHAPES))
                code[c] = code[len(COLOURS) + s] = 3.0 if code_in_features else 0.0
                xy = rng.uniform(0, 40, (n, 2))
                writer.add(f"{split}{i}", 100, 100, np.concatenate([xy, xy + 20], 1),
                           code + rng.normal(scale=0.5, size=(n, len(code))), _class_probs(c, s, n))
                rows[split].append(len(writer) - 1)
    pairs_dir = os.path.join(root, "pairs")
    os.makedirs(pairs_dir)
    for split, pairs in splits.items():
        texts = [f"{COLOURS[c]} {SHAPES[s]}" for c, s in pairs]
        prefix = os.path.join(pairs_dir, split)
        write_tokens(prefix, [[d.index(w) for w in t.split()] + [d.eos()] for t in texts], len(d))
        np.save(prefix + ".image_rows.npy", np.array(rows[split], dtype=np.int64))
        with open(prefix + ".captions.jsonl", "w") as f:
            for i, text in enumerate(texts):
                f.write(json.dumps({"caption_id": i, "image_id": f"{split}{i}", "text": text}) + "\n")
    write_manifest(pairs_dir, "unimo_captions", region_store="regions", bpe=None)
    return texts


def _generated(output):
    """{sample id: detokenized hypothesis} from fairseq-generate's D- lines."""
    out = {}
    for line in output.splitlines():
        if line.startswith("D-"):
            key, _, text = line.split("\t")
            out.setdefault(int(key[2:]), text)
    return out


def _hypotheses(output):
    """{(sample id, rank): (score, tokens)} from fairseq-generate's H- lines."""
    out, ranks = {}, {}
    for line in output.splitlines():
        if line.startswith("H-"):
            key, score, tokens = line.split("\t")
            rank = ranks[key] = ranks.get(key, -1) + 1
            out[(int(key[2:]), rank)] = (float(score), tokens)
    return out


@pytest.fixture(scope="module")
def caption_run(tmp_path_factory):
    """A captioning model fine-tuned by fairseq-train on the synthetic data: (data dir, references)."""
    root = tmp_path_factory.mktemp("caption")
    references = _caption_data(root)
    run_cli([fairseq_bin("fairseq-train"), str(root), *CAPTION, *TINY, *TRAIN, "--region-feature-dim", "9",
             "--max-update", "250", "--save-dir", str(root / "ckpt"), "--eval-bleu",
             "--eval-bleu-args", '{"beam": 2, "max_len_b": 5}', "--validate-interval-updates", "250",
             "--best-checkpoint-metric", "bleu", "--maximize-best-checkpoint-metric"])
    return root, references


@pytest.fixture(scope="module")
def tags_run(tmp_path_factory):
    """A captioning model fine-tuned with --object-tags on images whose features are noise: only the
    tags (from the regions' class probabilities) tell what to say. (data dir, references)."""
    root = tmp_path_factory.mktemp("caption-tags")
    references = _caption_data(root, code_in_features=False)
    run_cli([fairseq_bin("fairseq-train"), str(root), *CAPTION, *TINY, *TRAIN, "--region-feature-dim", "9",
             "--object-tags", str(root / "tags"), "--max-update", "250", "--save-dir", str(root / "ckpt")])
    return root, references


@pytest.mark.slow
def test_caption_finetune_and_fairseq_generate(caption_run):
    root, references = caption_run
    outputs = {}
    for cache in ("True", "False"):
        proc = run_cli([fairseq_bin("fairseq-generate"), str(root), *CAPTION, "--gen-subset", "test",
                        "--path", str(root / "ckpt" / "checkpoint_best.pt"), "--beam", "5", "--nbest", "2",
                        "--max-len-b", "6", "--batch-size", "8", "--model-overrides", f"{{'decoding_cache': {cache}}}"])
        hypotheses = _generated(proc.stdout)
        assert sorted(hypotheses) == list(range(len(references)))
        correct = sum(hypotheses[i] == ref for i, ref in enumerate(references))
        assert correct >= 0.9 * len(references), proc.stdout[-3000:]
        outputs[cache] = _hypotheses(proc.stdout)
        if cache == "True":  # scored straight from fairseq-generate's output, against every reference
            (root / "gen.txt").write_text(proc.stdout)
            run_cli([sys.executable, "data_scripts/score_captions.py", str(root / "gen.txt"), "--pairs",
                     str(root / "pairs"), "--split", "test", "--json", str(root / "scores.json")])
            scores = json.loads((root / "scores.json").read_text())["scores"]
            assert scores["BLEU-1"] >= 90 and scores["CIDEr-D"] > 100, scores
    # the same hypotheses and scores without the cache
    assert outputs["True"].keys() == outputs["False"].keys()
    for key, (score, tokens) in outputs["True"].items():
        assert tokens == outputs["False"][key][1]
        assert score == pytest.approx(outputs["False"][key][0], abs=1e-5)


def _positional(output):
    """{(sample id, rank): positional log2 scores} from fairseq-generate's P- lines."""
    out, ranks = {}, {}
    for line in output.splitlines():
        if line.startswith("P-"):
            key, values = line.split("\t")
            rank = ranks[key] = ranks.get(key, -1) + 1
            out[(int(key[2:]), rank)] = [float(v) for v in values.split()]
    return out


@pytest.mark.slow
def test_length_penalty_and_search_through_fairseq_generate(caption_run):
    """--beam-search release (the default) scores each hypothesis with the GNMT penalty of its length,
    ((5 + len) / 6) ** --lenpen, as the release decodes; --beam-search fairseq with len ** --lenpen."""
    root, references = caption_run
    common = [fairseq_bin("fairseq-generate"), str(root), *CAPTION, "--gen-subset", "test", "--path",
              str(root / "ckpt" / "checkpoint_best.pt"), "--beam", "4", "--nbest", "3", "--max-len-b", "6",
              "--batch-size", "8"]
    for search, lenpen, penalty in (("release", 0.6, lambda n: ((5 + n) / 6) ** 0.6),
                                    ("fairseq", 1.0, lambda n: n)):
        proc = run_cli(common + ["--lenpen", str(lenpen), "--beam-search", search])
        hypotheses, positional = _hypotheses(proc.stdout), _positional(proc.stdout)
        assert len(hypotheses) == 3 * len(references)
        for key, (score, tokens) in hypotheses.items():
            length = len(positional[key])  # generated tokens: words and the final </s> (none if cut at the limit)
            assert score == pytest.approx(sum(positional[key]) / penalty(length), abs=2e-4), (search, key)
        assert sum(_generated(proc.stdout)[i] == ref for i, ref in enumerate(references)) >= 0.9 * len(references)


@pytest.mark.slow
def test_hub_interface(caption_run):
    from unimo_plugin.formats.region_store import RegionStore
    from unimo_plugin.models import UnimoModel

    root, references = caption_run
    hub = UnimoModel.from_pretrained(str(root / "ckpt"), "checkpoint_best.pt", data_name_or_path=str(root))
    store = RegionStore(str(root / "regions"))
    rows = np.load(root / "pairs" / "test.image_rows.npy")
    captions = []
    for row in rows[:6]:
        regions = store[int(row)]
        captions.append(hub.caption(regions.features, regions.boxes, width=regions.width, height=regions.height))
    assert sum(c == r for c, r in zip(captions, references)) >= 5
    images = [hub.encode_image(store[int(r)].features, store[int(r)].boxes, 100, 100) for r in rows[:2]]
    texts = [hub.encode_text(t) for t in references[:2]]
    assert images[0].shape == texts[0].shape == (64,)
    assert -1 <= hub.similarity(images[0], texts[1]) <= 1
    with pytest.raises(ValueError, match="region detector"):
        hub.caption("picture.jpg")

    hub.detector = Detector(store[int(rows[0])])
    Image.new("RGB", (100, 100)).save(root / "picture.png")
    assert hub.caption(str(root / "picture.png")) == captions[0]
    with pytest.raises(ValueError, match="width and height"):
        hub.caption(store[0].features, store[0].boxes)


class Detector(torch.nn.Module):
    """Stands in for RegionDetector.extract (no weights offline): the regions of one stored image."""

    def __init__(self, regions):
        super().__init__()
        self.regions = regions

    def extract(self, images):
        assert images[0].shape == (3, 100, 100)
        return [{key: torch.tensor(getattr(self.regions, key)) for key in ("features", "boxes", "cls_probs")}]


@pytest.mark.slow
def test_hub_caption_with_object_tags_is_fairseq_generates(tags_run):
    """The hub builds a tags checkpoint's source as its dataset does: the same captions as
    fairseq-generate, image by image, and (features being noise) the right ones only through the tags."""
    from unimo_plugin.formats.region_store import RegionStore
    from unimo_plugin.models import UnimoModel

    root, references = tags_run
    checkpoint = root / "ckpt" / "checkpoint_last.pt"
    proc = run_cli([fairseq_bin("fairseq-generate"), str(root), *CAPTION, "--object-tags", str(root / "tags"),
                    "--gen-subset", "test", "--path", str(checkpoint), "--beam", "5", "--max-len-b", "6",
                    "--batch-size", "1"])
    generated = _generated(proc.stdout)
    assert sum(generated[i] == ref for i, ref in enumerate(references)) >= 0.9 * len(references)

    store = RegionStore(str(root / "regions"))
    images = [store[int(row)] for row in np.load(root / "pairs" / "test.image_rows.npy")]
    hub = UnimoModel.from_pretrained(str(root / "ckpt"), checkpoint.name, data_name_or_path=str(root))
    captions = [hub.caption(r.features, r.boxes, r.width, r.height, beam=5, max_len_b=6, cls_probs=r.cls_probs)
                for r in images]
    assert captions == [generated[i] for i in range(len(images))]
    hub.detector = Detector(images[0])
    Image.new("RGB", (100, 100)).save(root / "picture.png")
    assert hub.caption(str(root / "picture.png"), beam=5, max_len_b=6) == captions[0]
    with pytest.raises(ValueError, match=r"reads object tags \(--object-tags .*tags\).*cls_probs="):
        hub.caption(images[0].features, images[0].boxes, 100, 100)
    with pytest.raises(ValueError, match="cls_probs has 9 detector classes, the object tag names 10"):
        hub.caption(images[0].features, images[0].boxes, 100, 100, cls_probs=images[0].cls_probs[:, 1:])

    untagged = UnimoModel.from_pretrained(str(root / "ckpt"), checkpoint.name, data_name_or_path=str(root),
                                          object_tags=None)  # the source as the hub built it before
    blind = [untagged.caption(r.features, r.boxes, r.width, r.height, beam=5, max_len_b=6) for r in images]
    assert sum(b != c for b, c in zip(blind, captions)) > len(images) // 2


@pytest.mark.slow
def test_text_seq2seq_binarize_finetune_generate_interactive(tmp_path):
    rng = np.random.default_rng(0)
    words = COLOURS + SHAPES + ["left", "right", "top", "bottom"]
    raw = tmp_path / "raw"
    raw.mkdir()
    for split, n in (("train", 300), ("valid", 20), ("test", 20)):
        lines = [" ".join(rng.choice(words, size=rng.integers(2, 5))) for _ in range(n)]
        (raw / f"{split}.source").write_text("\n".join(lines) + "\n")
        (raw / f"{split}.target").write_text("\n".join(lines) + "\n")  # a copy task
    run_cli([sys.executable, "data_scripts/train_bpe.py", "--input", str(raw / "train.source"), "--output-dir",
             str(tmp_path / "bpe"), "--vocab-size", "300", "--only-seen-tokens"])
    bpe = ["--gpt2-encoder-json", str(tmp_path / "bpe" / "encoder.json"),
           "--gpt2-vocab-bpe", str(tmp_path / "bpe" / "vocab.bpe")]
    data = tmp_path / "data"
    run_cli([sys.executable, "data_scripts/binarize_seq2seq.py", "--raw-dir", str(raw), "--output", str(data),
             "--dict", str(tmp_path / "bpe" / "dict.txt"), *bpe])
    common = ["--user-dir", os.path.join(REPO_ROOT, "unimo_plugin"), "--task", "unimo_seq2seq",
              "--max-source-positions", "24", "--max-target-positions", "24"]
    run_cli([fairseq_bin("fairseq-train"), str(data), *common, *TINY, "--encoder-embed-dim", "128",
             "--encoder-ffn-embed-dim", "256", "--encoder-attention-heads", "4", *TRAIN, "--lr", "1e-3",
             "--max-update", "500",
             "--save-dir", str(tmp_path / "ckpt")])
    checkpoint = str(tmp_path / "ckpt" / "checkpoint_last.pt")
    proc = run_cli([fairseq_bin("fairseq-generate"), str(data), *common, "--path", checkpoint, "--gen-subset",
                    "test", "--beam", "5", "--batch-size", "8"])
    hypotheses = _generated(proc.stdout)
    targets = (raw / "test.target").read_text().splitlines()
    correct = sum(hypotheses[i] == t for i, t in enumerate(targets))
    assert correct >= 0.9 * len(targets), proc.stdout[-3000:]
    env = dict(os.environ, PYTHONPATH=REPO_ROOT)
    interactive = subprocess.run([fairseq_bin("fairseq-interactive"), str(data), *common, "--path", checkpoint,
                                  "--beam", "5"], input="red star left\n", capture_output=True, text=True,
                                 env=env, cwd=REPO_ROOT, timeout=300)
    assert interactive.returncode == 0, interactive.stderr[-3000:]
    assert "D-0\t" in interactive.stdout
    assert _generated(interactive.stdout)[0] == "red star left"
    from unimo_plugin.models import UnimoModel

    hub = UnimoModel.from_pretrained(str(tmp_path / "ckpt"), "checkpoint_last.pt", data_name_or_path=str(data))
    assert hub.generate("red star left") == "red star left"
    assert hub.generate(["red star left", "blue circle"]) == ["red star left", "blue circle"]
