"""Detector object tags as text (Oscar-style): the names of the classes the detector is confident
about, placed between the regions and the caption as ``<s> tag tag .. </s>``."""
from typing import Optional

import torch
from fairseq.data import Dictionary, data_utils


class ObjectTagger:
    """``labels[k]`` holds the tokens of class k's name (a dataset binarized from one name per line,
    e.g. ``binarize_text.py`` over the detector's class list, background first)."""

    def __init__(self, labels_prefix: str, dictionary: Dictionary, threshold: float, max_tags: int):
        self.labels = data_utils.load_indexed_dataset(labels_prefix, dictionary, combine=False)
        if self.labels is None:
            raise FileNotFoundError(f"--object-tags {labels_prefix}: no .bin/.idx dataset of class names there")
        self.labels_prefix, self.threshold, self.max_tags = labels_prefix, threshold, max_tags
        self.bos, self.eos = dictionary.bos(), dictionary.eos()
        longest = int(max(self.labels.sizes)) if len(self.labels) else 0
        self.max_tokens = max_tags * longest

    def check_classes(self, num_classes: Optional[int], where: str):
        if num_classes is None:
            raise ValueError(f"{where} has no class probabilities: object tags need them")
        if num_classes != len(self.labels):
            raise ValueError(f"{where} has {num_classes} detector classes, the object tag names {len(self.labels)}")

    def __call__(self, cls_probs: torch.Tensor) -> torch.Tensor:
        """Tokens of the distinct confident classes, most confident first (no ``<s>``/``</s>``).

        A region's class is its best foreground class, as in bottom-up-attention's tags: a region whose
        background probability is highest still names its best object when that is confident enough.
        """
        confidence, classes = cls_probs[:, 1:].max(dim=1)
        keep = confidence >= self.threshold
        order = confidence[keep].argsort(descending=True)
        tags = list(dict.fromkeys((classes[keep][order] + 1).tolist()))[: self.max_tags]
        names = [self.labels[c].long() for c in tags]
        names = [n[:-1] if len(n) and n[-1] == self.eos else n for n in names]
        return torch.cat(names) if names else torch.zeros(0, dtype=torch.long)


def tag_source(tagger: Optional[ObjectTagger], cls_probs: Optional[torch.Tensor]) -> torch.Tensor:
    """The text before a caption: ``<s> tags </s>`` from its regions' class probabilities, or none without
    a tagger. The datasets and the hub all build it here, so a model reads at inference what it learned on."""
    if tagger is None:
        return torch.zeros(0, dtype=torch.long)
    return torch.cat([torch.tensor([tagger.bos]), tagger(cls_probs), torch.tensor([tagger.eos])])


def segment_positions(tags_length: int, text_length: int, padding_idx: int) -> torch.Tensor:
    """Position ids of ``<s> tags </s>`` followed by the text: each segment counts from
    ``padding_idx + 1`` (fairseq's first position), so the caption sits where it would without tags."""
    first = padding_idx + 1
    return torch.cat([torch.arange(first, first + tags_length), torch.arange(first, first + text_length)])
