"""Which parameters weight decay spares: LayerNorm weights, biases (the official release's rule:
names with ``layer_norm`` or a bias suffix) and CMCL's temperature (a scale, not a weight).

They are marked as fairseq's own models mark them (data2vec): ``p.optim_overrides = {"optimizer":
{"weight_decay_scale": 0}}``, an attribute fairseq's FP16 optimizer keeps on its float32 copies
(``--fp16-no-flatten-grads``) and its composite optimizer reads (``dynamic_groups``).
``--optimizer unimo_adam`` applies it (``unimo_plugin/optim/unimo_adam.py``).
"""
from torch import nn

NO_WEIGHT_DECAY = {"optimizer": {"weight_decay_scale": 0.0}}


def mark_weight_decay_exemptions(module: nn.Module) -> None:
    """Mark ``module``'s LayerNorm parameters, its biases and any scalar parameter as exempt."""
    norms = {id(p) for m in module.modules() if isinstance(m, (nn.LayerNorm, nn.GroupNorm)) or "LayerNorm" in
             type(m).__name__ for p in m.parameters(recurse=False)}
    for name, parameter in module.named_parameters():
        if id(parameter) in norms or name.endswith("bias") or parameter.dim() == 0:
            parameter.optim_overrides = NO_WEIGHT_DECAY
