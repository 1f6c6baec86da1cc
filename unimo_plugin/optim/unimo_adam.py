"""``--optimizer unimo_adam``: fairseq's Adam, with its options and its decoupled (AdamW) weight
decay, whose decay spares the parameters the model marks (LayerNorm weights, biases and CMCL's
temperature for UNIMO, see ``unimo_plugin/models/weight_decay.py``), as the official release's
optimizer does. ``--weight-decay`` is then the release's ``weight_decay``.

fairseq's ``--fp16``/``--bf16`` optimizer flattens the parameters into one tensor, which has no
marks: run those with ``--fp16-no-flatten-grads`` (or ``--memory-efficient-fp16``/``-bf16``).
"""
from collections import defaultdict
from typing import Dict, List

import torch
from fairseq.optim import register_optimizer
from fairseq.optim.adam import FairseqAdam, FairseqAdamConfig


def weight_decay_groups(params: List[torch.nn.Parameter], weight_decay: float) -> List[Dict]:
    """Torch parameter groups, one per weight-decay scale the parameters' ``optim_overrides`` give
    (1 where none), each with ``weight_decay`` times its scale."""
    groups = defaultdict(list)
    for p in params:
        overrides = getattr(p, "optim_overrides", None) or {}
        groups[float(overrides.get("optimizer", {}).get("weight_decay_scale", 1.0))].append(p)
    if weight_decay > 0 and set(groups) == {1.0}:
        raise ValueError("--optimizer unimo_adam: no parameter is marked to be spared by weight decay. With --fp16 "
                         "or --bf16, fairseq flattens the parameters into one: add --fp16-no-flatten-grads (or use "
                         "--memory-efficient-fp16/--memory-efficient-bf16)")
    return [{"params": ps, "weight_decay": weight_decay * scale} for scale, ps in sorted(groups.items(), reverse=True)]


@register_optimizer("unimo_adam", dataclass=FairseqAdamConfig)
class UnimoAdam(FairseqAdam):
    def __init__(self, cfg: FairseqAdamConfig, params):
        super().__init__(cfg, weight_decay_groups(list(params), cfg.weight_decay))

    @property
    def supports_flat_params(self) -> bool:
        return False  # one flat tensor cannot be split into decayed and spared parameters
