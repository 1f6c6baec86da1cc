"""--optimizer unimo_adam: the model marks what weight decay spares (the release's rule: LayerNorm
parameters and biases; CMCL's temperature too), the optimizer decays the rest, also behind fairseq's
FP16 optimizer without flattening, and refuses to decay everything silently."""
import pytest
import torch
from fairseq.dataclass.configs import FairseqConfig
from fairseq.optim.adam import FairseqAdamConfig
from fairseq.optim.fp16_optimizer import FP16Optimizer
from omegaconf import OmegaConf

from unimo_plugin.models.heads import SumFusionHead
from unimo_plugin.optim.unimo_adam import UnimoAdam
from unimo_plugin.testing.tiny_models import build_unimo, make_dictionary


def _model():
    model = build_unimo(make_dictionary())
    model.register_classification_head("head", SumFusionHead(32, 16, 3))
    return model


def _spared(model):
    return {name for name, p in model.named_parameters() if getattr(p, "optim_overrides", None)}


def test_the_model_marks_layer_norms_biases_and_the_temperature():
    model = _model()
    spared = _spared(model)
    for name, p in model.named_parameters():
        expected = (".bias" in name or "layer_norm" in name or "layernorm" in name.lower()
                    or name == "cmcl_temperature.log_temperature")
        assert (name in spared) == expected, name
    assert "classification_heads.head.dense.bias" in spared and "classification_heads.head.dense.weight" not in spared
    assert {"layers.0.self_attn_layer_norm.weight", "text_embeddings.layernorm_embedding.weight",
            "region_embeddings.layer_norm.weight"} <= spared
    assert "text_embeddings.embed_tokens.weight" not in spared and "layers.0.fc1.weight" not in spared
    assert _spared(model.to(torch.bfloat16)) == spared  # casts keep the marks


def _config(**options):
    fields = dict(lr=[0.1], adam_betas="(0.9, 0.98)", adam_eps=1e-6, weight_decay=0.5, tpu=False)
    fields.update(options)
    return OmegaConf.structured(FairseqAdamConfig(**fields))


def test_only_unmarked_parameters_decay():
    model = _model()
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    optimizer = UnimoAdam(_config(), list(model.parameters()))
    for p in model.parameters():
        p.grad = torch.zeros_like(p)  # no gradient step: what changes is decay alone
    optimizer.step()
    spared = _spared(model)
    for name, p in model.named_parameters():
        want = before[name] if name in spared else before[name] * (1 - 0.1 * 0.5)
        torch.testing.assert_close(p.detach(), want, msg=lambda m: f"{name}: {m}")
    assert sorted(g["weight_decay"] for g in optimizer.param_groups) == [0.0, 0.5]


def test_the_marks_reach_fairseqs_fp16_optimizer_without_flattening():
    model = _model().to(torch.bfloat16)
    cfg = OmegaConf.structured(FairseqConfig())
    cfg.common.bf16 = cfg.common.fp16_no_flatten_grads = True
    cfg.optimizer = _config(_name="unimo_adam")
    optimizer = FP16Optimizer.build_optimizer(cfg, list(model.parameters()))
    groups = optimizer.fp32_optimizer.param_groups
    assert sorted(len(g["params"]) for g in groups) == sorted(
        [len(_spared(model)), len(list(model.parameters())) - len(_spared(model))])


def test_parameters_without_marks_are_refused_when_weight_decay_is_on():
    flat = [torch.nn.Parameter(torch.zeros(10))]  # what fairseq's flattening FP16 optimizer hands over
    with pytest.raises(ValueError, match="--fp16-no-flatten-grads"):
        UnimoAdam(_config(), flat)
    UnimoAdam(_config(weight_decay=0.0), flat)  # nothing to spare
