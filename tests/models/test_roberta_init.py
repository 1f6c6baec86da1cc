"""--init-from-roberta: the text path reproduces fairseq's RobertaModel exactly."""
import os
import re

import pytest
import torch
from fairseq import options, tasks

from unimo_plugin.models.roberta_init import load_roberta_into
from unimo_plugin.testing.tiny_models import build_unimo, make_dictionary, random_text

DIMS = ["--encoder-layers", "2", "--encoder-embed-dim", "32", "--encoder-ffn-embed-dim", "64",
        "--encoder-attention-heads", "4", "--max-positions", "64"]


@pytest.fixture
def roberta(tmp_path):
    """A small RoBERTa built by fairseq's own ``roberta`` architecture, saved like the released model.pt."""
    dictionary = make_dictionary()
    dictionary.save(str(tmp_path / "dict.txt"))
    parser = options.get_training_parser()
    args = options.parse_args_and_arch(parser, [str(tmp_path), "--task", "masked_lm", "--arch", "roberta_base"] + DIMS)
    task = tasks.setup_task(args)
    model = task.build_model(args).eval()
    torch.manual_seed(1)
    with torch.no_grad():  # non-trivial LayerNorms and biases
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    path = tmp_path / "model.pt"
    torch.save({"args": args, "model": model.state_dict()}, path)
    return model, task.source_dictionary, path


def _old_layout(state):
    """The key layout of RoBERTa checkpoints from fairseq <= 0.9 (decoder.*, emb_layer_norm, in_proj)."""
    old = {}
    for key, value in state.items():
        key = key.replace("encoder.", "decoder.", 1).replace("layernorm_embedding", "emb_layer_norm")
        m = re.match(r"(.*self_attn\.)q_proj\.(weight|bias)$", key)
        if m:
            parts = [state[key.replace("decoder.", "encoder.", 1).replace("q_proj", n)] for n in ("q_proj", "k_proj", "v_proj")]
            old[f"{m.group(1)}in_proj_{m.group(2)}"] = torch.cat(parts)
        elif not re.search(r"self_attn\.[kv]_proj\.", key):
            old[key] = value
    return old


@pytest.mark.parametrize("layout", ["current", "released_v0.9"])
def test_text_path_matches_fairseq_roberta(roberta, tmp_path, layout):
    model, dictionary, path = roberta
    if layout != "current":
        saved = torch.load(path, weights_only=False)
        saved["model"] = _old_layout(saved["model"])
        path = tmp_path / "old.pt"
        torch.save(saved, path)
    unimo = build_unimo(dictionary, init_from_roberta=str(path)).eval()
    tokens = random_text(dictionary, [11, 7, 9])
    with torch.no_grad():
        expected_features, _ = model(tokens, features_only=True)
        expected_logits, _ = model(tokens)
        features, _ = unimo(tokens, features_only=True)
        logits, _ = unimo(tokens)
    real = tokens.ne(dictionary.pad())
    torch.testing.assert_close(features[real], expected_features[real], rtol=0, atol=1e-5)
    torch.testing.assert_close(logits[real], expected_logits[real], rtol=0, atol=1e-5)


def test_image_parameters_keep_their_init(roberta):
    _, dictionary, path = roberta
    torch.manual_seed(5)
    fresh = build_unimo(dictionary)
    torch.manual_seed(5)
    loaded = build_unimo(dictionary, init_from_roberta=str(path))
    for name, value in fresh.state_dict().items():
        if name.startswith(("region_embeddings.", "image_pooler.", "text_pooler.", "region_")):
            torch.testing.assert_close(loaded.state_dict()[name], value)


def test_mismatched_checkpoint_lists_keys(roberta, tmp_path):
    _, dictionary, path = roberta
    saved = torch.load(path, weights_only=False)
    with pytest.raises(ValueError, match=r"mis-shaped: .*layers\.0\.fc1\.weight \(64, 32\) vs \(48, 32\)"):
        load_roberta_into(build_unimo(dictionary, encoder_ffn_embed_dim=48), str(path))

    saved["model"]["encoder.classification_heads.mnli.dense.weight"] = torch.zeros(2, 2)
    saved["model"]["encoder.sentence_encoder.layers.5.fc1.weight"] = torch.zeros(2, 2)
    bad = tmp_path / "bad.pt"
    torch.save(saved, bad)
    with pytest.raises(ValueError, match=r"no UNIMO counterpart: .*classification_heads\.mnli\.dense\.weight"):
        load_roberta_into(build_unimo(dictionary), str(bad))
    saved["model"].pop("encoder.classification_heads.mnli.dense.weight")
    torch.save(saved, bad)
    with pytest.raises(ValueError, match=r"not in UNIMO: layers\.5\.fc1\.weight"):
        load_roberta_into(build_unimo(dictionary), str(bad))

    del saved["model"]["encoder.sentence_encoder.layers.5.fc1.weight"]
    del saved["model"]["encoder.lm_head.bias"]
    torch.save(saved, bad)
    with pytest.raises(ValueError, match=r"lacks text-path weights: lm_head\.bias"):
        load_roberta_into(build_unimo(dictionary), str(bad))
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_roberta_into(build_unimo(dictionary), os.path.join(tmp_path, "missing.pt"))
