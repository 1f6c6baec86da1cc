"""fairseq encoder/decoder views over one UNIMO transformer, so stock ``SequenceGenerator`` decodes it.

Under the UniLM seq2seq mask the source (image regions + source text) sees only the source, so its
keys and values never change while the target grows. The encoder view runs the source once and keeps
every layer's keys and values; the decoder view runs each new target token against them plus a cache
of the earlier target tokens' keys and values. Without the cache (``--model-overrides
"{'decoding_cache': False}"``) every step reruns the whole sequence through the training path.
"""
from typing import Dict, List, Optional

import torch
from fairseq.models import FairseqEncoder, FairseqIncrementalDecoder
from torch import Tensor

from .masks import attention_mask, decoder_mask


def _gather_source(encoder_out, name):
    value = encoder_out["source"][name]
    return None if value is None else value.index_select(0, encoder_out["rows"])


class UnimoEncoder(FairseqEncoder):
    """Runs the source bidirectionally; returns per-layer keys/values plus the raw source inputs.

    The returned dict holds everything per source sample and a ``rows`` index (row -> sample), so
    beam search reorders only that index, never the keys and values.
    """

    def __init__(self, model):
        super().__init__(model.dictionary)
        object.__setattr__(self, "model", model)  # not a submodule: the model owns its views

    def forward(self, src_tokens, regions=None, boxes=None, region_padding_mask=None, **unused):
        model = self.model
        x, padding_mask, _, _ = model.embed(src_tokens, regions, boxes, region_padding_mask)
        mask = attention_mask(padding_mask)
        keys: List[Tensor] = []
        values: List[Tensor] = []

        def record(k, v):
            keys.append(k)
            values.append(v)
            return k, v

        if model.cfg.decoding_cache:
            for layer in model.layers[:-1]:
                x = layer(x, mask, record)
            # the last layer's source outputs feed nothing: its keys and values are all the target needs
            record(*model.layers[-1].self_attn.keys_values(x))
        text_lengths = (src_tokens.ne(model.padding_idx).sum(1) if src_tokens is not None
                        else padding_mask.new_zeros(padding_mask.size(0), dtype=torch.long))
        return {
            "keys": keys,
            "values": values,
            "padding_mask": padding_mask,
            "text_lengths": text_lengths,
            "rows": torch.arange(padding_mask.size(0), device=padding_mask.device),
            "source": {"src_tokens": src_tokens, "regions": regions, "boxes": boxes,
                       "region_padding_mask": region_padding_mask},
        }

    def reorder_encoder_out(self, encoder_out, new_order):
        return dict(encoder_out, rows=encoder_out["rows"].index_select(0, new_order))

    def max_positions(self):
        return self.model.cfg.max_positions


class _TargetCache:
    """Per-layer key/value buffers of one decoding: the source, then ``length`` target positions.

    Buffers have spare capacity so a step writes in place; beam reordering moves only the target
    part while the rows still hold the same source samples.
    """

    def __init__(self, keys, values, rows, source_length, max_text_length):
        self.keys, self.values, self.rows = keys, values, rows
        self.source_length, self.length = source_length, 0
        self.max_text_length = max_text_length  # of the source texts, to check positions without a sync

    @classmethod
    def start(cls, encoder_out, capacity):
        rows = encoder_out["rows"]
        keys, values = [], []
        for k, v in zip(encoder_out["keys"], encoder_out["values"]):
            shape = (len(rows), k.size(1), k.size(2) + capacity, k.size(3))
            for src, out in ((k, keys), (v, values)):
                buffer = src.new_empty(shape)
                buffer[:, :, :k.size(2)] = src.index_select(0, rows)
                out.append(buffer)
        return cls(keys, values, rows, encoder_out["keys"][0].size(2), int(encoder_out["text_lengths"].max()))

    def append(self, layer: int, k: Tensor, v: Tensor):
        """Write the new positions' keys/values; return the keys/values attended to (views)."""
        end = self.source_length + self.length + k.size(2)
        if end > self.keys[layer].size(2):
            grow = max(end, 2 * self.keys[layer].size(2)) - self.keys[layer].size(2)
            for buffers in (self.keys, self.values):
                extra = buffers[layer].new_empty(buffers[layer].shape[:2] + (grow,) + buffers[layer].shape[3:])
                buffers[layer] = torch.cat([buffers[layer], extra], dim=2)
        start = end - k.size(2)
        self.keys[layer][:, :, start:end] = k
        self.values[layer][:, :, start:end] = v
        return self.keys[layer][:, :, :end], self.values[layer][:, :, :end]

    def reorder(self, new_order: Tensor):
        rows = self.rows.index_select(0, new_order)
        same_sources = len(rows) == len(self.rows) and torch.equal(rows, self.rows)
        target = slice(self.source_length, self.source_length + self.length)
        for buffers in (self.keys, self.values):
            for i, buffer in enumerate(buffers):
                if same_sources:  # beams of one sample swap targets: the source part stays
                    buffer[:, :, target] = buffer[:, :, target].index_select(0, new_order)
                else:
                    buffers[i] = buffer.index_select(0, new_order)
        self.rows = rows


class UnimoDecoder(FairseqIncrementalDecoder):
    """Target tokens -> LM logits, attending to the encoder view's source and to earlier targets.

    Target positions restart at 2 or continue after the source text, as in training (the model's
    ``--target-positions``).
    """

    def __init__(self, model):
        super().__init__(model.dictionary)
        object.__setattr__(self, "model", model)  # not a submodule: the model owns its views

    def forward(self, prev_output_tokens, encoder_out=None, incremental_state=None, features_only=False,
                **unused):
        if encoder_out is None:
            raise ValueError("the UNIMO decoder needs the encoder's output (the source)")
        if incremental_state is None or not self.model.cfg.decoding_cache:
            return self._recompute(prev_output_tokens, encoder_out, features_only)
        cache = self.get_incremental_state(incremental_state, "cache")
        if cache is None:
            cache = _TargetCache.start(encoder_out, capacity=32)
            self.set_incremental_state(incremental_state, "cache", cache)
        if prev_output_tokens.size(1) != cache.length + 1:
            raise ValueError(f"incremental decoding got a prefix of {prev_output_tokens.size(1)} tokens "
                             f"with {cache.length} cached: it must grow by one token per step")
        x = self._step(prev_output_tokens[:, -1:], encoder_out, cache)
        cache.length += 1
        return (x if features_only else self.model.lm_head(x)), {"attn": [None]}

    def _step(self, tokens, encoder_out, cache):
        model = self.model
        position = model.padding_idx + 1 + cache.length  # of this target token, when positions restart
        if model.cfg.target_positions == "restart":
            positions = torch.full_like(tokens, position)
            last = position
        else:
            positions = (encoder_out["text_lengths"].index_select(0, cache.rows) + position)[:, None]
            last = cache.max_text_length + position
        if last >= model.text_embeddings.embed_positions.num_embeddings:
            raise ValueError(f"the target {'' if model.cfg.target_positions == 'restart' else 'and source text '}"
                             f"exceed the model's {model.cfg.max_positions} text positions: lower "
                             "--max-len-a/--max-len-b or truncate the source")
        x = model.text_embeddings(tokens, positions)
        source_padding = encoder_out["padding_mask"].index_select(0, cache.rows)
        mask = decoder_mask(source_padding, cache.length, tokens.eq(model.padding_idx))
        for i, layer in enumerate(model.layers):
            x = layer(x, mask, lambda k, v, i=i: cache.append(i, k, v))
        return x

    def _recompute(self, prev_output_tokens, encoder_out, features_only):
        """The whole [source; target] sequence under the seq2seq mask: the training path."""
        return self.model(
            _gather_source(encoder_out, "src_tokens"),
            regions=_gather_source(encoder_out, "regions"),
            boxes=_gather_source(encoder_out, "boxes"),
            region_padding_mask=_gather_source(encoder_out, "region_padding_mask"),
            prev_output_tokens=prev_output_tokens,
            features_only=features_only,
        )

    def reorder_incremental_state(self, incremental_state: Dict[str, Dict[str, Optional[Tensor]]],
                                  new_order: Tensor):
        cache = self.get_incremental_state(incremental_state, "cache")
        if cache is not None:
            cache.reorder(new_order)

    def reorder_incremental_state_scripting(self, incremental_state, new_order):
        self.reorder_incremental_state(incremental_state, new_order)

    def max_positions(self):
        return self.model.cfg.max_positions
