"""Python use of a trained UNIMO, in the style of fairseq's RoBERTa/BART hubs::

    from unimo_plugin.models import UnimoModel
    unimo = UnimoModel.from_pretrained("checkpoints/caption", "checkpoint_best.pt", data_name_or_path="DATA")
    regions = RegionStore("DATA/pair_regions")[0]          # or features + boxes from any detector
    unimo.caption(regions.features, regions.boxes, width=regions.width, height=regions.height)
    unimo.similarity(unimo.encode_image(regions.features, regions.boxes, regions.width, regions.height),
                     unimo.encode_text("a red star"))

Text goes through the BPE the checkpoint records (``--bpe-record``, from its training data's manifests),
the data's when the checkpoint records none, or the one given as ``bpe=...`` options; with none known,
text is refused rather than encoded as ``<unk>``. A checkpoint fine-tuned with ``--object-tags`` reads
its regions' tags: ``caption`` then needs their class probabilities (``cls_probs=``, or a detector's).
"""
import copy
from argparse import Namespace
from typing import Optional

import numpy as np
import torch
from fairseq import utils
from fairseq.hub_utils import GeneratorHubInterface
from omegaconf import open_dict

from ..data.object_tags import tag_source
from ..formats.region_store import normalized_boxes


class UnimoHubInterface(GeneratorHubInterface):
    def __init__(self, cfg, task, model, detector=None):
        super().__init__(cfg, task, [model])  # self.bpe: from explicit bpe=... options, else None
        self.model = model
        self.detector = detector
        self._bpe_known = self.bpe is not None

    def _text_bpe(self):
        """The BPE of text: explicit options, else the task's (None for ``none``). Looked up at the first
        text, so a checkpoint that records no BPE still encodes images."""
        if not self._bpe_known:
            self.bpe = self.task.build_bpe(Namespace(bpe=None))
            self._bpe_known = True
        return self.bpe

    def _regions(self, regions, boxes=None, width=None, height=None, cls_probs=None):
        """(1, R, D) features, (1, R, 5) normalised boxes from pixel boxes (with the image size) or
        already normalised 5-d boxes, and the (R, C) class probabilities when given; or all three from an
        image file through the configured detector. R is cut to the task's regions per image."""
        if isinstance(regions, str):
            if self.detector is None:
                raise ValueError("captioning an image file needs a region detector: pass detector_weights= "
                                 "(and detector_config=) to UnimoModel.from_pretrained")
            from PIL import Image
            from torchvision.transforms.functional import to_tensor

            with Image.open(regions) as image:
                pixels = to_tensor(image.convert("RGB"))
            found = self.detector.extract([pixels.to(self.device)])[0]
            regions, boxes, cls_probs = found["features"], found["boxes"], found["cls_probs"]
            height, width = pixels.shape[-2:]
        features = (regions.float() if torch.is_tensor(regions)
                    else torch.tensor(np.asarray(regions, dtype=np.float32)))
        boxes = np.asarray(boxes.cpu() if torch.is_tensor(boxes) else boxes, dtype=np.float32)
        if boxes.shape[-1] == 4:
            if width is None or height is None:
                raise ValueError("pixel boxes (x1, y1, x2, y2) need the image's width and height")
            boxes = normalized_boxes(boxes, width, height)
        elif boxes.shape[-1] != 5:
            raise ValueError(f"boxes must be (R, 4) pixel boxes or (R, 5) normalised boxes, got {boxes.shape}")
        if len(boxes) != len(features):
            raise ValueError(f"{len(features)} region features but {len(boxes)} boxes")
        if cls_probs is not None:
            cls_probs = torch.tensor(np.asarray(cls_probs.cpu() if torch.is_tensor(cls_probs) else cls_probs,
                                                dtype=np.float32))
            if len(cls_probs) != len(features):
                raise ValueError(f"{len(features)} region features but {len(cls_probs)} rows of cls_probs")
        limit = getattr(self.task.cfg, "max_regions_per_image", len(features))
        features, boxes = features[:limit], torch.from_numpy(boxes[:limit])
        cls_probs = None if cls_probs is None else cls_probs[:limit]
        return features[None].to(self.device), boxes[None].to(self.device), cls_probs

    def _caption_source(self, cls_probs):
        """``<s> tags </s>`` for a checkpoint trained with ``--object-tags``, built as its dataset does;
        nothing otherwise."""
        tagger = self.task.object_tagger()
        if tagger is not None:
            if cls_probs is None:
                raise ValueError(f"this checkpoint reads object tags (--object-tags {tagger.labels_prefix}): "
                                 "caption() needs the regions' class probabilities, cls_probs= (one row of "
                                 "detector classes per region), or an image file and a detector")
            tagger.check_classes(cls_probs.shape[-1], "cls_probs")
        return tag_source(tagger, cls_probs)

    @torch.no_grad()
    def caption(self, regions, boxes=None, width=None, height=None, beam: int = 5, cls_probs=None,
                **generation) -> str:
        """A caption of one image: its region features and boxes (and class probabilities, which a
        checkpoint trained with object tags needs), or an image file path."""
        features, boxes, cls_probs = self._regions(regions, boxes, width, height, cls_probs)
        sample = {"id": torch.zeros(1, dtype=torch.long), "net_input": {
            "src_tokens": self._caption_source(cls_probs)[None].to(self.device),
            "regions": features, "boxes": boxes,
            "region_padding_mask": torch.zeros(features.shape[:2], dtype=torch.bool, device=self.device)}}
        options = copy.deepcopy(self.cfg.generation)
        with open_dict(options):
            for key, value in dict(beam=beam, **generation).items():
                setattr(options, key, value)
        generator = self.task.build_generator(self.models, options)
        hypos = self.task.inference_step(generator, self.models, sample)
        return self.decode(hypos[0][0]["tokens"])

    def generate(self, inputs, beam: int = 5, verbose: bool = False, **generation):
        """Text -> generated text (summaries, questions) for a ``unimo_seq2seq`` checkpoint: a string
        gives a string, a list of strings a list. Token tensors give fairseq's hypothesis dicts, as in
        every fairseq hub (``translate``/``sample`` go through here)."""
        if isinstance(inputs, str) or (isinstance(inputs, list) and inputs and isinstance(inputs[0], str)):
            return self.sample(inputs, beam=beam, verbose=verbose, **generation)
        return super().generate(inputs, beam, verbose, **generation)

    def _text_tokens(self, sentence: str) -> torch.Tensor:
        """``<s> w.. </s>`` as the model reads a text alone."""
        tokens = self.encode(sentence)
        return torch.cat([tokens.new_tensor([self.src_dict.bos()]), tokens])

    @torch.no_grad()
    def encode_text(self, sentence: str) -> torch.Tensor:
        """The pooled ``<s>`` of the text encoded alone (the CMCL text representation), (H,)."""
        tokens = self._text_tokens(sentence)[None].to(self.device)
        text_states, _, _ = self.model.extract_features(tokens)
        return self.model.pooled_text(text_states)[0]

    @torch.no_grad()
    def encode_image(self, regions, boxes=None, width=None, height=None) -> torch.Tensor:
        """The pooled ``[IMG]`` of the image encoded alone (the CMCL image representation), (H,)."""
        features, boxes, _ = self._regions(regions, boxes, width, height)
        _, image_states, _ = self.model.extract_features(regions=features, boxes=boxes)
        return self.model.pooled_image(image_states)[0]

    def similarity(self, image: torch.Tensor, text: torch.Tensor) -> float:
        """Cosine similarity of ``encode_image`` and ``encode_text`` outputs: CMCL's score."""
        return torch.nn.functional.cosine_similarity(image, text, dim=-1).item()

    def decode(self, tokens: torch.Tensor) -> str:
        """Generated tokens as text: without the task's decoder start and target end symbols (``<s>``,
        ``</s>`` or the release's ``<mask>``)."""
        ends = {getattr(self.task, name, None) for name in ("decoder_start", "target_end")} - {None}
        text = self.tgt_dict.string(utils.strip_pad(tokens, self.tgt_dict.pad()).cpu(), extra_symbols_to_ignore=ends)
        bpe = self._text_bpe()
        return bpe.decode(text) if bpe is not None else text

    def encode(self, sentence: str) -> torch.Tensor:
        bpe = self._text_bpe()
        if bpe is not None:
            sentence = bpe.encode(sentence)
        return self.src_dict.encode_line(sentence, add_if_not_exist=False).long()


def build_hub(model_name_or_path, checkpoint_file, data_name_or_path, detector_weights=None,
              detector_config: Optional[dict] = None, **kwargs):
    from fairseq import hub_utils

    loaded = hub_utils.from_pretrained(model_name_or_path, checkpoint_file=checkpoint_file,
                                       data_name_or_path=data_name_or_path, archive_map={}, **kwargs)
    detector = None
    if detector_weights is not None:
        from .region_detector import build_detector

        detector = build_detector(detector_weights, **(detector_config or {}))
    return UnimoHubInterface(loaded["args"], loaded["task"], loaded["models"][0], detector)
