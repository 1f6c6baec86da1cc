"""UNIMO: one post-LN transformer over text, image regions, or image-text pairs.

Sequence layout: ``[IMG] r1..rn <s> w1..wm </s>`` — the image part is absent for text-only
input and the text part for image-only input. Bidirectional attention for understanding,
the UniLM seq2seq mask (``target_mask``) for generation.
"""
import logging
import math
from dataclasses import dataclass, field
from typing import Dict, Optional

import numpy as np
import torch
import torch.utils.checkpoint
from fairseq import utils
from fairseq.dataclass import ChoiceEnum, FairseqDataclass
from fairseq.models import BaseFairseqModel, register_model, register_model_architecture
from fairseq.models.roberta.model import RobertaLMHead
from fairseq.modules.transformer_sentence_encoder import init_bert_params
from torch import nn

from ..data.cmcl_batch import CmclBatch
from .embeddings import RegionEmbeddings, TextEmbeddings
from .flops import Dims
from .heads import Pooler, RegionHead, Temperature
from .incremental_decoding import UnimoDecoder, UnimoEncoder
from .layers import TransformerLayer
from .masks import attention_mask
from .packing import distinct, packed_attention_mask, packed_positions, plan_packing
from .perturbation import EmbeddingPerturbation
from .pretrained_init import HEADS_PREFIX, load_pretrained_into
from .roberta_init import load_roberta_into
from .weight_decay import mark_weight_decay_exemptions

logger = logging.getLogger(__name__)

TEMPERATURE_KEY = "cmcl_temperature.log_temperature"


@dataclass
class UnimoConfig(FairseqDataclass):
    """The sizes default to None, which the architecture fills (``unimo_base`` for the bare ``unimo``):
    fairseq-hydra-train fills the dataclass defaults before it calls the architecture named in
    ``model._name``, which then keeps every value that is not None."""

    encoder_layers: Optional[int] = field(
        default=None, metadata={"help": "number of transformer layers (default: the architecture's)"})
    encoder_embed_dim: Optional[int] = field(
        default=None, metadata={"help": "hidden size H (default: the architecture's)"})
    encoder_ffn_embed_dim: Optional[int] = field(
        default=None, metadata={"help": "feed-forward inner size, 4H in UNIMO (default: the architecture's)"})
    encoder_attention_heads: Optional[int] = field(
        default=None, metadata={"help": "number of attention heads (default: the architecture's)"})
    activation_fn: ChoiceEnum(utils.get_available_activation_fns()) = field(
        default="gelu", metadata={"help": "activation of the feed-forward layers and the LM head"}
    )
    pooler_activation_fn: ChoiceEnum(utils.get_available_activation_fns()) = field(
        default="relu", metadata={"help": "activation of the pooled <s> and [IMG] heads"}
    )
    pooling: ChoiceEnum(["first", "mean"]) = field(
        default="first",
        metadata={"help": "what the pooled text and image representations (CMCL's, and the heads') read: the state "
                          "of <s> / [IMG] (first, UNIMO's), or the mean of the sequence's states (mean), which "
                          "holds every word and region from the start"})
    dropout: float = field(default=0.1, metadata={"help": "dropout on embeddings and layer outputs"})
    attention_dropout: float = field(default=0.1, metadata={"help": "dropout on attention probabilities"})
    activation_dropout: float = field(default=0.0, metadata={"help": "dropout after the FFN activation"})
    max_positions: Optional[int] = field(
        default=None, metadata={"help": "maximum number of text tokens (default: the architecture's)"})
    region_feature_dim: int = field(
        default=2048, metadata={"help": "dimension of one detector region feature (2048 for bottom-up attention)"}
    )
    num_region_classes: int = field(
        default=1601, metadata={"help": "classes of the detector (1600 Visual Genome objects + background)"}
    )
    checkpoint_activations: bool = field(
        default=False, metadata={"help": "recompute each layer in the backward pass to save activation memory"}
    )
    init_from_roberta: Optional[str] = field(
        default=None,
        metadata={"help": "fairseq RoBERTa checkpoint (model.pt) that initialises the text path; "
                          "image-only parameters keep their random init"},
    )
    target_positions: ChoiceEnum(["restart", "continue"]) = field(
        default="restart",
        metadata={"help": "text positions of a generation target: from 2 again after the source (restart: the "
                          "official release's, so a 512-token source and a 128-token target fit) or continuing "
                          "after the source text (continue: this project's before the release's conventions)"},
    )
    decoding_cache: bool = field(
        default=True,
        metadata={"help": "generate with cached source and target keys/values; off, every step reruns the "
                          "whole sequence (slow; for checking: --model-overrides \"{'decoding_cache': False}\")"},
    )
    pretrained: Optional[str] = field(
        default=None,
        metadata={"help": "UNIMO checkpoint (e.g. from unimo_pretrain) that initialises every parameter "
                          "except task heads, for fine-tuning"},
    )
    cmcl_temperature: float = field(default=0.07, metadata={"help": "initial (or fixed) CMCL temperature tau"})
    cmcl_fixed_temperature: bool = field(default=False, metadata={"help": "keep tau fixed instead of learning it"})
    cmcl_min_temperature: float = field(default=0.001, metadata={"help": "lower bound of the learned tau"})
    cmcl_max_temperature: float = field(default=0.5, metadata={"help": "upper bound of the learned tau"})


@register_model("unimo", dataclass=UnimoConfig)
class UnimoModel(BaseFairseqModel):
    def __init__(self, cfg: UnimoConfig, dictionary):
        super().__init__()
        self.cfg = cfg
        self.dictionary = dictionary
        self.padding_idx = dictionary.pad()
        dim = cfg.encoder_embed_dim
        self.text_embeddings = TextEmbeddings(len(dictionary), dim, self.padding_idx, cfg.max_positions, cfg.dropout)
        self.region_embeddings = RegionEmbeddings(cfg.region_feature_dim, dim, cfg.dropout)
        self.layers = nn.ModuleList(
            TransformerLayer(dim, cfg.encoder_ffn_embed_dim, cfg.encoder_attention_heads, cfg.dropout,
                             cfg.attention_dropout, cfg.activation_dropout, cfg.activation_fn)
            for _ in range(cfg.encoder_layers)
        )
        self.lm_head = RobertaLMHead(dim, len(dictionary), cfg.activation_fn,
                                     weight=self.text_embeddings.embed_tokens.weight)
        self.text_pooler = Pooler(dim, cfg.pooler_activation_fn)
        self.image_pooler = Pooler(dim, cfg.pooler_activation_fn)
        self.region_feature_head = RegionHead(dim, cfg.region_feature_dim)
        self.region_class_head = RegionHead(dim, cfg.num_region_classes)
        self.classification_heads = nn.ModuleDict()
        self.cmcl_temperature = Temperature(cfg.cmcl_temperature, not cfg.cmcl_fixed_temperature,
                                            cfg.cmcl_min_temperature, cfg.cmcl_max_temperature)
        self.apply(init_bert_params)
        mark_weight_decay_exemptions(self)
        # fairseq's SequenceGenerator reads model.encoder / model.decoder: views over these same weights
        self._generation_views = (UnimoEncoder(self), UnimoDecoder(self))
        self.num_updates = 0

    def set_num_updates(self, num_updates):
        """Keeps the update count that fairseq's task sets before every training step (and a restore
        sets from the checkpoint): the pretraining criterion schedules its hard-negative term by it."""
        super().set_num_updates(num_updates)
        self.num_updates = num_updates

    @property
    def encoder(self) -> UnimoEncoder:
        return self._generation_views[0]

    @property
    def decoder(self) -> UnimoDecoder:
        return self._generation_views[1]

    @classmethod
    def build_model(cls, cfg: UnimoConfig, task):
        """The task's heads (``task.classification_heads(cfg)``, for this config's widths) are
        registered before ``--pretrained`` loads, which then keeps or initialises them."""
        unimo_base(cfg)  # the sizes no architecture set: the bare ``unimo``, or a config built in code
        model = cls(cfg, task.source_dictionary)
        for name, head in getattr(task, "classification_heads", lambda model_cfg: {})(cfg).items():
            model.register_classification_head(name, head)
        if cfg.init_from_roberta:
            load_roberta_into(model, cfg.init_from_roberta)
        if cfg.pretrained:
            load_pretrained_into(model, cfg.pretrained)
        return model

    @classmethod
    def from_pretrained(cls, model_name_or_path, checkpoint_file="checkpoint_best.pt", data_name_or_path=".",
                        detector_weights=None, detector_config=None, **kwargs):
        """A hub object (``caption``, ``generate``, ``encode_image``, ``encode_text``, ``similarity``) for
        the checkpoint ``model_name_or_path/checkpoint_file``; ``data_name_or_path`` holds the task's
        DATA (dict.txt and the data it names). ``detector_weights`` (a RegionDetector state_dict, with
        its ``detector_config``) lets ``caption`` take image files."""
        from .hub_interface import build_hub

        return build_hub(model_name_or_path, checkpoint_file, data_name_or_path, detector_weights,
                         detector_config, **kwargs)

    def register_classification_head(self, name: str, head: nn.Module):
        """Add a task head; it is saved in checkpoints as ``classification_heads.NAME.*``."""
        if name in self.classification_heads:
            raise ValueError(f"classification head {name!r} is already registered")
        head.apply(init_bert_params)
        mark_weight_decay_exemptions(head)
        self.classification_heads[name] = head

    def upgrade_state_dict_named(self, state_dict, name):
        """Loading a checkpoint from another task: its heads the model lacks are dropped and the
        model's heads it lacks (or holds in another shape) keep their init, as RoBERTa does. A head of
        the same name built differently (another ``--head``) is an error: its weights cannot be reused,
        and evaluating it with a fresh head would give numbers that mean nothing."""
        prefix = name + "." if name else ""
        own = {prefix + k: v for k, v in self.state_dict().items() if k.startswith(HEADS_PREFIX)}
        self._check_head_kinds(state_dict, own, prefix)
        for key in [k for k in state_dict if k.startswith(prefix + HEADS_PREFIX)]:
            if key not in own or state_dict[key].shape != own[key].shape:
                logger.warning(f"dropping task head weights {key} that this model's heads do not use")
                del state_dict[key]
        for key, value in own.items():
            if key not in state_dict:
                logger.info(f"task head weights {key} are not in the checkpoint: keeping their init")
                state_dict[key] = value
        self._upgrade_temperature(state_dict, prefix)
        super().upgrade_state_dict_named(state_dict, name)

    @staticmethod
    def _check_head_kinds(state_dict, own, prefix):
        def layout(keys):
            heads = {}
            for key in keys:
                head, _, param = key[len(prefix + HEADS_PREFIX):].partition(".")
                heads.setdefault(head, set()).add(param)
            return heads

        saved, built = layout(k for k in state_dict if k.startswith(prefix + HEADS_PREFIX)), layout(own)
        for head in saved.keys() & built.keys():
            if saved[head] != built[head]:
                raise ValueError(
                    f"the checkpoint's task head {head!r} ({', '.join(sorted(saved[head]))}) is not the kind of head "
                    f"this task builds ({', '.join(sorted(built[head]))}): give the task the --head it was trained "
                    f"with (--head roberta for heads fine-tuned before the release's heads were the default), or "
                    f"another --classification-head-name to start a new head")

    def _upgrade_temperature(self, state_dict, prefix):
        """Checkpoints from before tau moved from the criterion into the model lack it: a learned tau
        starts from --cmcl-temperature. A fixed tau is the option's value, never a checkpoint's."""
        key = prefix + TEMPERATURE_KEY
        if not self.cmcl_temperature.learned:
            state_dict.pop(key, None)
        elif key not in state_dict:
            logger.info(f"{key} is not in the checkpoint: CMCL's tau starts from {self.cfg.cmcl_temperature}")
            state_dict[key] = torch.tensor(math.log(self.cfg.cmcl_temperature))

    def max_positions(self):
        return self.cfg.max_positions

    def max_decoder_positions(self):
        return self.cfg.max_positions

    def embed(self, src_tokens=None, regions=None, boxes=None, region_padding_mask=None, target_mask=None,
              text_positions=None, perturbations=None):
        """Embed ``[IMG] r1..rn`` and the text: (x, padding mask, target mask or None, image length).
        ``text_positions`` (B, T) default to 2, 3, ... over the real tokens (RoBERTa's);
        ``perturbations`` ({"text" and/or "regions": an EmbeddingPerturbation}) are added to them."""
        perturbations = perturbations or {}
        parts, pads, targets = [], [], []
        if regions is not None:
            if region_padding_mask is None:
                region_padding_mask = regions.new_zeros(regions.shape[:2], dtype=torch.bool)
            image, image_pad = self.region_embeddings(regions, boxes, region_padding_mask,
                                                      perturbations.get("regions"))
            parts.append(image)
            pads.append(image_pad)
            targets.append(torch.zeros_like(image_pad))
        if src_tokens is not None:
            parts.append(self.text_embeddings(src_tokens, text_positions, perturbations.get("text")))
            text_pad = src_tokens.eq(self.padding_idx)
            pads.append(text_pad)
            targets.append(target_mask if target_mask is not None else torch.zeros_like(text_pad))
        if not parts:
            raise ValueError("UNIMO needs text tokens, region features, or both")
        num_image = parts[0].size(1) if regions is not None else 0
        target = torch.cat(targets, dim=1) if target_mask is not None else None
        return torch.cat(parts, dim=1), torch.cat(pads, dim=1), target, num_image

    def extract_features(
        self,
        src_tokens: Optional[torch.Tensor] = None,
        regions: Optional[torch.Tensor] = None,
        boxes: Optional[torch.Tensor] = None,
        region_padding_mask: Optional[torch.Tensor] = None,
        target_mask: Optional[torch.Tensor] = None,
        return_all_hiddens: bool = False,
        input_offset: Optional[torch.Tensor] = None,
        text_positions: Optional[torch.Tensor] = None,
        perturbations: Optional[Dict[str, EmbeddingPerturbation]] = None,
    ):
        """Run the transformer.

        Args:
            src_tokens: (B, T) text tokens, right-padded; None for image-only input.
            regions: (B, R, D) region features; None for text-only input.
            boxes: (B, R, 5) normalised boxes.
            region_padding_mask: (B, R), True at padded regions (default: none padded).
            target_mask: (B, T), True at the text positions that form the seq2seq target;
                None (or all False) gives bidirectional attention.
            input_offset: a scalar added to the embeddings (see :meth:`_unused_parameters_anchor`).
            text_positions: (B, T) position ids of the text (default: 2, 3, ... over its real tokens).
            perturbations: adversarial deltas of the text ("text") and region ("regions") embeddings.

        Returns:
            text states (B, T, H) or None, image states (B, R + 1, H) or None ([IMG] first),
            and a dict with ``inner_states`` (every layer's output when asked).
        """
        x, padding_mask, target, num_image = self.embed(src_tokens, regions, boxes, region_padding_mask,
                                                        target_mask, text_positions, perturbations)
        if input_offset is not None:
            x = x + input_offset
        mask = attention_mask(padding_mask, target)
        inner_states = [x] if return_all_hiddens else []
        x = self._run_layers(x, mask, inner_states if return_all_hiddens else None)

        image_states = x[:, :num_image] if regions is not None else None
        text_states = x[:, num_image:] if src_tokens is not None else None
        return text_states, image_states, {"inner_states": inner_states, "padding_mask": padding_mask}

    def forward(
        self,
        src_tokens=None,
        regions=None,
        boxes=None,
        region_padding_mask=None,
        target_mask=None,
        prev_output_tokens=None,
        features_only: bool = False,
        return_all_hiddens: bool = False,
        masked_tokens: Optional[torch.Tensor] = None,
        classification_head_name: Optional[str] = None,
        masked_regions: Optional[torch.Tensor] = None,
        predict_region_classes: bool = False,
        cmcl_inputs: Optional[CmclBatch] = None,
        perturbations: Optional[Dict[str, EmbeddingPerturbation]] = None,
        text_positions: Optional[torch.Tensor] = None,
        **unused,
    ):
        """Every training computation runs here, in one call: fairseq's DDP wrappers synchronise the
        gradients of what ``forward`` computes, not of other methods a criterion might call.

        RoBERTa-style, returns (LM logits or text features, extra); extra holds the image states.
        ``masked_tokens`` (B, T) selects the positions whose logits are computed, as in fairseq's
        masked LM criterion. Called like a fairseq encoder-decoder, with ``prev_output_tokens``
        (B, T), it appends them to the source text as the seq2seq target and returns only the
        target's logits (B, T, V): the fine-tuning and scoring path of generation. Besides:

        - ``classification_head_name``: that head's logits over the pooled ``<s>`` (and pooled
          ``[IMG]`` when there are regions) replace the LM output.
        - ``masked_regions`` (B, R): ``extra["region_features"]`` (N, D) predicted for the masked
          regions and, with ``predict_region_classes``, ``extra["region_class_logits"]`` (N, C).
        - ``cmcl_inputs`` (a :class:`CmclBatch`, or the plain tuple fairseq's sample helpers make of
          one): its every text and every image encoded alone, pooled, as ``extra["cmcl_text"]``
          (Nt, H) and ``extra["cmcl_image"]`` (Ni, H), with ``extra["cmcl_temperature"]``.
        - ``perturbations``: adversarial deltas of the text and region embeddings (FreeLB, VILLA).
        - ``text_positions`` (B, T): position ids of a text made of segments (object tags, then the
          caption); by default 2, 3, ... over the real tokens.
        """
        if prev_output_tokens is not None:
            if src_tokens is None:
                src_tokens = prev_output_tokens.new_zeros(prev_output_tokens.size(0), 0)
            target_mask = torch.cat([torch.zeros_like(src_tokens, dtype=torch.bool),
                                     torch.ones_like(prev_output_tokens, dtype=torch.bool)], dim=1)
            if self.cfg.target_positions == "restart":
                text_positions = torch.cat([utils.make_positions(src_tokens, self.padding_idx),
                                            utils.make_positions(prev_output_tokens, self.padding_idx)], dim=1)
            src_tokens = torch.cat([src_tokens, prev_output_tokens], dim=1)
        lm = src_tokens is not None and not features_only and classification_head_name is None
        anchor = self._unused_parameters_anchor(
            src_tokens is not None, regions is not None, lm, classification_head_name, masked_regions is not None,
            predict_region_classes, cmcl_inputs is not None)
        text, image, extra = self.extract_features(
            src_tokens, regions, boxes, region_padding_mask, target_mask, return_all_hiddens, anchor, text_positions,
            perturbations)
        extra["image_states"] = image
        if prev_output_tokens is not None:
            text = text[:, -prev_output_tokens.size(1):]
            extra["attn"] = [None]
        if classification_head_name is not None:
            num_image = 0 if image is None else image.size(1)
            padding = extra["padding_mask"]
            pooled = [self.pooled_text(text, padding[:, num_image:])]
            pooled += [] if image is None else [self.pooled_image(image, padding[:, :num_image])]
            text = self.classification_heads[classification_head_name](*pooled)
        elif lm:
            text = self.lm_head(text, masked_tokens)
        if masked_regions is not None:
            states = image[:, 1:][masked_regions]  # position 0 is [IMG]
            extra["region_features"] = self.region_feature_head(states)
            if predict_region_classes:
                extra["region_class_logits"] = self.region_class_head(states)
        if cmcl_inputs is not None:
            extra.update(self._single_modal_passes(CmclBatch.of(cmcl_inputs)))
        return text, extra

    def _run_layers(self, x: torch.Tensor, mask: Optional[torch.Tensor], inner_states: Optional[list] = None):
        for layer in self.layers:
            if self.cfg.checkpoint_activations and self.training:
                x = torch.utils.checkpoint.checkpoint(layer, x, mask, use_reentrant=False)
            else:
                x = layer(x, mask)
            if inner_states is not None:
                inner_states.append(x)
        return x

    def _single_modal_passes(self, batch: CmclBatch):
        """CMCL's representations: each image and each text encoded alone by the same transformer.

        Each distinct image and text is encoded once (an anchor's image may also be another pair's
        retrieved image; two captions of one image share it), and all of them in one forward: their
        real positions packed end to end in rows, each attending only to itself (``packing.py``), so
        that every representation is the one the item has alone, with little padding computed.
        Returned per item of ``batch``, in its order.
        """
        images, image_of = distinct(batch.regions, batch.boxes, batch.region_padding_mask)
        texts, text_of = distinct(batch.texts)
        image_x, image_pad, _, _ = self.embed(regions=batch.regions[images], boxes=batch.boxes[images],
                                              region_padding_mask=batch.region_padding_mask[images])
        text_x, text_pad, _, _ = self.embed(batch.texts[texts])
        lengths = torch.cat([(~image_pad).sum(1), (~text_pad).sum(1)]).tolist()
        packing = plan_packing(lengths, self._flops.position_flops, self._flops.pair_flops)
        positions = torch.from_numpy(packed_positions(packing, lengths)).to(image_x.device)
        real = torch.cat([image_x[~image_pad], text_x[~text_pad]])  # sequence by sequence, in order
        rows = real.new_zeros(packing.rows * packing.row_length, real.size(-1)).index_copy(0, positions, real)
        mask = packed_attention_mask(packing, lengths, device=real.device)
        states = self._run_layers(rows.view(packing.rows, packing.row_length, -1), mask).flatten(0, 1)
        if self.cfg.pooling == "mean":  # each sequence's states summed, over its real length
            counts = torch.tensor(lengths, device=real.device)
            sequence = torch.repeat_interleave(torch.arange(len(lengths), device=real.device), counts)
            read = states.new_zeros(len(lengths), states.size(-1)).index_add(0, sequence, states[positions])
            read = read / counts.to(read.dtype)[:, None]
        else:
            read = states[positions[np.cumsum([0] + lengths[:-1])]]  # each sequence's first position: [IMG] or <s>
        pooled_images = self.image_pooler(read[:len(images)])
        pooled_texts = self.text_pooler(read[len(images):])
        return {"cmcl_image": pooled_images[image_of], "cmcl_text": pooled_texts[text_of],
                "cmcl_temperature": self.cmcl_temperature()}

    @property
    def _flops(self) -> Dims:
        return Dims.of(self.cfg, len(self.dictionary))

    def _unused_parameters_anchor(self, text, regions, lm, head_name, region_heads, region_classes, cmcl):
        """Zero times one element of every parameter this forward leaves unused, or None.

        Added to the input embeddings, it gives those parameters a zero gradient. PyTorch's DDP with
        fairseq's default ``find_unused_parameters=False`` needs a gradient for every parameter in
        every backward (a text batch leaves the image embeddings unused, a fine-tuning task the LM
        head), and fairseq's legacy DDP and fp16 optimizers already treat a missing gradient as zero,
        so training behaves the same with or without it, and on any number of workers.
        """
        if not (self.training and torch.is_grad_enabled()):
            return None
        used = {"layers", "text_embeddings" if text or cmcl else None, "region_embeddings" if regions or cmcl else None,
                "lm_head" if lm else None, "region_feature_head" if region_heads else None,
                "region_class_head" if region_classes else None}
        if head_name is not None:
            used |= {f"classification_heads.{head_name}", "text_pooler", "image_pooler" if regions else None}
        if cmcl:
            used |= {"text_pooler", "image_pooler", "cmcl_temperature"}
        modules = [(name, module) for name, module in self.named_children() if name != "classification_heads"]
        modules += [(f"classification_heads.{name}", head) for name, head in self.classification_heads.items()]
        unused = [p.view(-1)[0] for name, module in modules if name not in used
                  for p in module.parameters() if p.requires_grad]
        return torch.stack(unused).sum() * 0 if unused else None

    def pooled_text(self, text_states: torch.Tensor, padding_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """FC + ReLU on ``<s>`` (or on the mean of the real positions, ``--pooling mean``): the sentence
        representation. ``padding_mask``: (B, T), True at padding (default: none padded)."""
        return self.text_pooler(self.pooling_input(text_states, padding_mask))

    def pooled_image(self, image_states: torch.Tensor, padding_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """FC + ReLU on ``[IMG]`` (or on the mean of ``[IMG]`` and the real regions, ``--pooling mean``): the
        image representation. ``padding_mask``: (B, R + 1), True at padded regions (default: none padded)."""
        return self.image_pooler(self.pooling_input(image_states, padding_mask))

    def pooling_input(self, states: torch.Tensor, padding_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """What a pooler reads: the first state, or the mean of the real ones (``--pooling mean``)."""
        if self.cfg.pooling == "first":
            return states[:, 0]
        if padding_mask is None:
            return states.mean(1)
        real = (~padding_mask).to(states.dtype)[..., None]
        return (states * real).sum(1) / real.sum(1)

    def get_targets(self, sample, net_output):
        return sample["target"]


def _unset_to(args, **sizes):
    """Give ``args`` (an argparse Namespace, a config or a UnimoConfig) each of ``sizes`` it leaves unset
    (absent or None: fairseq's ``safe_getattr`` takes a UnimoConfig's None for a value)."""
    for name, value in sizes.items():
        if getattr(args, name, None) is None:
            setattr(args, name, value)


@register_model_architecture("unimo", "unimo_base")
def unimo_base(args):
    _unset_to(args, encoder_layers=12, encoder_embed_dim=768, encoder_ffn_embed_dim=3072, encoder_attention_heads=12,
              max_positions=512)
    _unset_to(args, pooling="first")  # checkpoints saved before --pooling existed pooled the first position


@register_model_architecture("unimo", "unimo_large")
def unimo_large(args):
    _unset_to(args, encoder_layers=24, encoder_embed_dim=1024, encoder_ffn_embed_dim=4096, encoder_attention_heads=16)
    unimo_base(args)


@register_model_architecture("unimo", "unimo_tiny")
def unimo_tiny(args):
    """A few small layers for tests and the CPU demo."""
    _unset_to(args, encoder_layers=4, encoder_embed_dim=128, encoder_ffn_embed_dim=512, encoder_attention_heads=4,
              max_positions=256)
