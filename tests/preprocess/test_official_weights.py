"""The official release's checkpoints: Paddle parameter files read with numpy, and the converted model
reproducing the forward that PaddlePaddle computed on the same weights (the fixture in
tests/fixtures/official_unimo, made by its make_fixture.py with paddlepaddle, which the tests do not need)."""
import json
import os
import shutil
import struct

import numpy as np
import pytest
import torch

from unimo_plugin.cli.convert_official_unimo import main as convert_main
from unimo_plugin.common.artifacts import InputError
from unimo_plugin.formats.paddle_params import read_lod_tensor, read_params
from unimo_plugin.models.unimo import UnimoModel
from unimo_plugin.testing import synthetic_corpora
from unimo_plugin.testing.commands import REPO_ROOT, fairseq_bin, run_cli

FIXTURE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures", "official_unimo")
CONFIG, VOCAB = os.path.join(FIXTURE, "config.json"), os.path.join(FIXTURE, "vocab.txt")
HEADS = {"mnli": ("cls_out_3_w", "cls_out_3_b"), "snli_ve": ("cls_out_w_0", "cls_out_b_0", "cls_out_w_1", "cls_out_b_1"),
         "retrieval": ("match_fc.w_0", "match_fc.b_0")}
TOLERANCE = 1e-4


def release_dir(tmp_path, head=None, source="params"):
    """A release checkpoint directory: the pretrained parameters, plus one fine-tuned head."""
    out = tmp_path / f"{source}-{head}"
    out.mkdir()
    every_head = {name for names in HEADS.values() for name in names}
    for name in os.listdir(os.path.join(FIXTURE, source)):
        if name not in every_head or name in HEADS.get(head, ()):
            shutil.copyfile(os.path.join(FIXTURE, source, name), out / name)
    return out


def convert(tmp_path, head=None, source="params", *extra):
    out = tmp_path / f"converted-{source}-{head}"
    convert_main([str(release_dir(tmp_path, head, source)), "--config", CONFIG, "--vocab", VOCAB, "--output-dir",
                  str(out), *extra])
    return out


@pytest.fixture(scope="module")
def fixture():
    return np.load(os.path.join(FIXTURE, "inputs.npz")), np.load(os.path.join(FIXTURE, "outputs.npz"))


def hub(out, data=None):
    return UnimoModel.from_pretrained(str(out), "model.pt", data_name_or_path=str(data or out))


def outputs(model, inputs):
    """The converted model's counterparts of Paddle's outputs, and the real positions of each pass."""
    tokens = torch.from_numpy(inputs["tokens"])
    regions, boxes = torch.from_numpy(inputs["regions"]), torch.from_numpy(inputs["boxes"])
    region_pad = torch.from_numpy(inputs["region_mask"] == 0)
    text_real, region_real = inputs["text_mask"] > 0, np.concatenate([np.ones((2, 1), bool), inputs["region_mask"] > 0], 1)
    got, real = {}, {"vl": np.concatenate([region_real, text_real], 1), "l": text_real, "v": region_real}
    with torch.no_grad():
        for name, (t, r) in {"vl": (tokens, regions), "l": (tokens, None), "v": (None, regions)}.items():
            text, image, extra = model.extract_features(t, r, boxes if r is not None else None,
                                                        region_pad if r is not None else None, return_all_hiddens=True)
            got[f"{name}.embeddings"] = extra["inner_states"][0].numpy()
            for i, state in enumerate(extra["inner_states"][1:]):
                got[f"{name}.layer{i}"] = state.numpy()
            if image is not None:
                got[f"{name}.pooled_image"] = model.pooled_image(image).numpy()
            if text is not None:
                got[f"{name}.pooled_text"] = model.pooled_text(text).numpy()
                got[f"{name}.lm_logits"] = model.lm_head(text).numpy()
    return got, real


def assert_matches(got, want, real):
    for key, value in got.items():
        expected = want[key]
        mask = real[key.split(".")[0]]
        if value.ndim == 3 and not key.endswith("lm_logits"):
            value, expected = value[mask], expected[mask]
        elif key.endswith("lm_logits"):
            text = mask[:, -value.shape[1]:]
            value, expected = value[text], expected[text]
        np.testing.assert_allclose(value, expected, atol=TOLERANCE, rtol=0, err_msg=key)


def test_paddle_files_read_as_saved(tmp_path):
    fp32, fp16 = read_params(os.path.join(FIXTURE, "params")), read_params(os.path.join(FIXTURE, "params_fp16"))
    assert fp32.keys() == fp16.keys() and fp32["word_embedding"].shape == (28, 16)
    assert fp32["image_emb.w_0"].dtype == np.float32 and fp16["image_emb.w_0"].dtype == np.float16
    np.testing.assert_array_equal(fp16["encoder_layer_1_ffn_fc_0.w_0"], fp32["encoder_layer_1_ffn_fc_0.w_0"].astype(np.float16))
    data = open(os.path.join(FIXTURE, "params", "pooled_fc_text.w_0"), "rb").read()
    (tmp_path / "cut").write_bytes(data[:-7])
    with pytest.raises(InputError, match=r"cut: truncated: 256 float32 values"):
        read_lod_tensor(str(tmp_path / "cut"))
    (tmp_path / "junk").write_bytes(b"\x07\x00\x00\x00" + data[4:])
    with pytest.raises(InputError, match="junk: LoDTensor version 7"):
        read_lod_tensor(str(tmp_path / "junk"))
    (tmp_path / "long").write_bytes(data + b"\x00\x00")
    with pytest.raises(InputError, match="long: 2 bytes after the tensor"):
        read_lod_tensor(str(tmp_path / "long"))
    # bf16 (Paddle's VarType 22), packed dims: read as float32
    values = np.array([[1.5, -2.0], [0.25, 3.0]], np.float32)
    desc = bytes([0x08, 22, 0x12, 2, 2, 2])
    raw = (values.view(np.uint32) >> 16).astype("<u2").tobytes()
    (tmp_path / "bf16").write_bytes(struct.pack("<IQIi", 0, 0, 0, len(desc)) + desc + raw)
    np.testing.assert_array_equal(read_lod_tensor(str(tmp_path / "bf16")), values)


def test_converted_pretrained_model_reproduces_paddles_forward(tmp_path, fixture):
    inputs, want = fixture
    out = convert(tmp_path)
    assert sorted(os.listdir(out)) == ["dict.txt", "model.pt"]
    model = hub(out).model  # in eval mode: the hub makes it generation-fast
    got, real = outputs(model, inputs)
    assert len(got) == len([k for k in want if not k.startswith(("mnli", "snli_ve", "retrieval"))])
    assert_matches(got, want, real)
    unimo = hub(out)  # the hub's own image path gives Paddle's pooled [IMG] of the image alone
    region_count = int(inputs["region_mask"][1].sum())
    image = unimo.encode_image(inputs["regions"][1, :region_count], inputs["boxes"][1, :region_count])
    np.testing.assert_allclose(image.numpy(), want["v.pooled_image"][1], atol=TOLERANCE)


def test_fp16_files_convert_to_the_same_model_within_fp16_rounding(tmp_path, fixture):
    inputs, want = fixture
    fp32 = hub(convert(tmp_path)).model.state_dict()
    fp16 = hub(convert(tmp_path, None, "params_fp16")).model.state_dict()
    for key, value in fp32.items():
        if not key.startswith(("region_", "cmcl_")):  # kept at their (random) initialisation
            torch.testing.assert_close(fp16[key], value.half().float(), atol=0, rtol=0, msg=key)


def test_fine_tuned_heads_give_paddles_outputs_in_the_tasks_label_order(tmp_path, fixture):
    inputs, want = fixture
    tokens, regions, boxes = (torch.from_numpy(inputs[k]) for k in ("tokens", "regions", "boxes"))
    region_pad = torch.from_numpy(inputs["region_mask"] == 0)
    mnli = torch.load(convert(tmp_path, "mnli") / "model.pt", weights_only=False)
    assert mnli["cfg"]["task"]["_name"] == "unimo_sentence_prediction" and mnli["cfg"]["task"]["head"] == "release"
    model = UnimoModel.build_model(_config(mnli), _Task(mnli)).eval()
    model.load_state_dict(mnli["model"])
    with torch.no_grad():
        logits = model(tokens, classification_head_name="sentence_classification_head")[0].numpy()
    # the release head's outputs are contradiction, entailment, neutral; the labeled set's entailment, neutral,
    # contradiction
    np.testing.assert_allclose(logits, want["mnli.logits"][:, [1, 2, 0]], atol=TOLERANCE)
    for head, name in (("snli_ve", "snli_ve"), ("retrieval", "retrieval")):
        checkpoint = torch.load(convert(tmp_path, head) / "model.pt", weights_only=False)
        model = UnimoModel.build_model(_config(checkpoint), _Task(checkpoint)).eval()
        model.load_state_dict(checkpoint["model"])
        with torch.no_grad():
            scores = model(tokens, regions, boxes, region_pad, classification_head_name=name)[0].numpy()
        key = "snli_ve.logits" if head == "snli_ve" else "retrieval.score"
        np.testing.assert_allclose(scores, want[key], atol=TOLERANCE, err_msg=head)


def _config(checkpoint):
    from unimo_plugin.models.unimo import UnimoConfig

    fields = UnimoConfig.__dataclass_fields__
    return UnimoConfig(**{k: v for k, v in checkpoint["cfg"]["model"].items() if k in fields})


class _Task:
    """The converted checkpoint's heads, as the task would build them (shapes from the saved weights)."""

    def __init__(self, checkpoint):
        from fairseq.data import Dictionary

        from unimo_plugin.models.heads import PooledLinearHead, ProductScoreHead, SumFusionHead

        self.source_dictionary = Dictionary()
        for _ in range(checkpoint["model"]["text_embeddings.embed_tokens.weight"].shape[0] - 4):
            self.source_dictionary.add_symbol(str(len(self.source_dictionary)))
        state, self.heads = checkpoint["model"], {}
        if "classification_heads.sentence_classification_head.out_proj.weight" in state:
            classes, dim = state["classification_heads.sentence_classification_head.out_proj.weight"].shape
            self.heads["sentence_classification_head"] = PooledLinearHead(dim, classes)
        if "classification_heads.snli_ve.dense.weight" in state:
            hidden, dim = state["classification_heads.snli_ve.dense.weight"].shape
            self.heads["snli_ve"] = SumFusionHead(dim, hidden, 3)
        if "classification_heads.retrieval.out_proj.weight" in state:
            self.heads["retrieval"] = ProductScoreHead(state["classification_heads.retrieval.out_proj.weight"].shape[1])

    def classification_heads(self, cfg):
        return self.heads


def test_every_mapping_problem_is_reported_at_once(tmp_path):
    source = release_dir(tmp_path)
    os.remove(source / "encoder_layer_1_multi_head_att_key_fc.w_0")  # missing
    shutil.copyfile(source / "image_loc.b_0", source / "surplus_fc.b_0")  # unknown
    shutil.copyfile(os.path.join(FIXTURE, "params", "image_emb.w_0"), source / "pooled_fc_image.w_0")  # (8, 16)
    with pytest.raises(SystemExit):
        convert_main([str(source), "--config", CONFIG, "--vocab", VOCAB, "--output-dir", str(tmp_path / "out")])
    assert not (tmp_path / "out").exists()
    from unimo_plugin.preprocess.official_weights import convert_official

    with pytest.raises(ValueError) as error:
        convert_official(str(source), CONFIG, VOCAB, str(tmp_path / "out"))
    message = str(error.value)
    assert "missing encoder_layer_1_multi_head_att_key_fc.w_0" in message
    assert "release parameters this conversion does not use: surplus_fc.b_0" in message
    assert "pooled_fc_image.w_0 gives image_pooler.dense.weight the shape (16, 8), the model has (16, 16)" in message
    with open(tmp_path / "short_vocab.txt", "w") as f:
        f.write("[CLS]\n[PAD]\n[SEP]\n[UNK]\n13\n[MASK]\n")
    with pytest.raises(InputError, match="short_vocab.txt: 6 tokens, the model config says vocab_size 28"):
        convert_official(str(source), CONFIG, str(tmp_path / "short_vocab.txt"), str(tmp_path / "out"))


def test_a_dictionary_in_another_order_permutes_the_embedding_rows(tmp_path, fixture):
    inputs, want = fixture
    symbols = open(VOCAB).read().split("\n")[4:-2]
    reordered = symbols[::-1]
    (tmp_path / "dict.txt").write_text("".join(f"{s} 1\n" for s in reordered))
    out = convert(tmp_path, None, "params", "--dict", str(tmp_path / "dict.txt"))
    model = hub(out).model  # in eval mode: the hub makes it generation-fast
    assert open(out / "dict.txt").read().split()[::2] == reordered
    # the same text in the new dictionary's ids gives Paddle's outputs
    old_ids = {s: i + 4 for i, s in enumerate(symbols)}
    new_ids = {s: i + 4 for i, s in enumerate(reordered)}
    remap = {old_ids[s]: new_ids[s] for s in symbols}
    tokens = np.vectorize(lambda t: remap.get(int(t), int(t)))(inputs["tokens"])
    with torch.no_grad():
        text, _, _ = model.extract_features(torch.from_numpy(tokens))
    real = inputs["text_mask"] > 0
    np.testing.assert_allclose(text.numpy()[real], want["l.layer1"][real], atol=TOLERANCE)
    (tmp_path / "bad.txt").write_text("13 1\nnot_in_the_release 1\n")
    from unimo_plugin.preprocess.official_weights import convert_official

    with pytest.raises(ValueError, match="1 dictionary symbols are not in the release's vocabulary: not_in_the_release"):
        convert_official(str(release_dir(tmp_path, "x")), CONFIG, VOCAB, str(tmp_path / "o"),
                         dict_path=str(tmp_path / "bad.txt"))


@pytest.mark.slow
def test_converted_checkpoint_initialises_training(tmp_path):
    """--pretrained and --restore-file, through fairseq-train on data with the converted dictionary."""
    out = convert(tmp_path)
    from fairseq.data import Dictionary

    d = Dictionary.load(str(out / "dict.txt"))
    data = synthetic_corpora.build(str(tmp_path / "data"), d, feature_dim=8, num_classes=None, regions=(2, 4))
    sizes = ["--arch", "unimo", "--encoder-layers", "2", "--encoder-embed-dim", "16", "--encoder-ffn-embed-dim", "64",
             "--encoder-attention-heads", "2", "--max-positions", "18", "--region-feature-dim", "8"]
    common = [fairseq_bin("fairseq-train"), data, "--user-dir", f"{REPO_ROOT}/unimo_plugin", "--task", "unimo_pretrain",
              "--criterion", "unimo_pretrain", *sizes, "--tokens-per-sample", "16", "--max-caption-tokens", "8",
              "--max-tokens", "400", "--max-regions", "400", "--optimizer", "adam", "--lr", "1e-4", "--max-update", "2",
              "--cpu", "--num-workers", "0", "--no-save", "--log-format", "simple", "--log-interval", "1"]
    for init in (["--pretrained", str(out / "model.pt")],
                 ["--restore-file", str(out / "model.pt"), "--reset-optimizer", "--reset-dataloader", "--reset-meters",
                  "--reset-lr-scheduler"]):
        proc = run_cli(common + ["--save-dir", str(tmp_path / "ckpt")] + init)
        log = proc.stdout + proc.stderr
        assert "num_updates=2" in log, log[-2000:]
        assert "initialised" in log or "Loaded checkpoint" in log


def test_the_release_bpe_is_copied_and_recorded_as_lowercasing(tmp_path):
    """The released models read lowercased text: the checkpoint's BPE record says so, so the hub and
    fairseq-generate lowercase what they encode."""
    from unimo_plugin.formats.bpe import build_recorded_bpe
    from unimo_plugin.testing.labeled_data import make_bpe

    cfg, _, _ = make_bpe(["a small red circle"], str(tmp_path / "bpe"))
    out = convert(tmp_path, None, "params", "--gpt2-encoder-json", cfg.gpt2_encoder_json,
                  "--gpt2-vocab-bpe", cfg.gpt2_vocab_bpe)
    assert (out / "encoder.json").read_bytes() == open(cfg.gpt2_encoder_json, "rb").read()
    record = torch.load(out / "model.pt", weights_only=False)["cfg"]["task"]["bpe_record"]
    assert json.loads(record) == {"bpe": "gpt2", "gpt2_encoder_json": str(out / "encoder.json"),
                                  "gpt2_vocab_bpe": str(out / "vocab.bpe"), "lowercase": True}
    encoder = build_recorded_bpe(record)
    assert encoder.encode("A Small RED Circle") == encoder.encode("a small red circle")
