"""Fine-tuning samples of a labeled split: text (one sentence or a pair), optionally an image's regions,
and a target (class, regression value or VQA soft scores)."""
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from fairseq.data import Dictionary, FairseqDataset, data_utils

from ...formats.region_store import RegionStore
from ..batching import KeepsLastBatch
from ..collate import collate_regions
from ..region_inputs import load_regions


class ClassTargets:
    """Class indices (int64) or regression values (float32), one per item."""

    def __init__(self, values: np.ndarray):
        self.values = values

    def __getitem__(self, index: int) -> torch.Tensor:
        return torch.as_tensor(self.values[index])

    def collate(self, targets: List[torch.Tensor]) -> torch.Tensor:
        return torch.stack(targets)


class SoftTargets:
    """VQA soft scores stored sparsely: item i owns ``labels/scores[offsets[i]:offsets[i + 1]]``."""

    def __init__(self, offsets: np.ndarray, labels: np.ndarray, scores: np.ndarray, num_labels: int):
        self.offsets, self.labels, self.scores, self.num_labels = offsets, labels, scores, num_labels

    def __getitem__(self, index: int) -> Tuple[torch.Tensor, torch.Tensor]:
        start, end = self.offsets[index], self.offsets[index + 1]
        return torch.from_numpy(self.labels[start:end]), torch.from_numpy(self.scores[start:end])

    def collate(self, targets: List[Tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
        dense = torch.zeros(len(targets), self.num_labels)
        for i, (labels, scores) in enumerate(targets):
            dense[i, labels] = scores
        return dense


PAIR_FORMATS = ("release", "roberta")


class LabeledDataset(KeepsLastBatch, FairseqDataset):
    """``<s> a </s>``, or a pair: ``<s> a </s> b </s>`` with ``pair_format`` "release" (the official UNIMO
    release's ``[CLS] a [SEP] b [SEP]``; an over-long pair loses tokens from the end of its longer text,
    as the release's BERT-style truncation does) or ``<s> a </s> </s> b </s>`` with "roberta" (cut at the
    end); no segment embedding. After ``[IMG] r1..rn`` when ``store`` is given; ``targets`` is None for
    unlabeled splits. Text items are binarized with ``</s>`` appended; the text fits ``max_positions``.
    """

    def __init__(self, *, inputs: Sequence[FairseqDataset], dictionary: Dictionary,
                 targets: Optional[Union[ClassTargets, SoftTargets]] = None, store: Optional[RegionStore] = None,
                 image_rows: Optional[np.ndarray] = None, max_regions: int = 100, max_positions: int = 512,
                 shuffle: bool = True, seed: int = 1, pair_format: str = "release"):
        if pair_format not in PAIR_FORMATS:
            raise ValueError(f"pair format {pair_format!r}: expected one of {', '.join(PAIR_FORMATS)}")
        if any(len(x) != len(inputs[0]) for x in inputs[1:]):
            raise ValueError(f"text inputs differ in length: {[len(x) for x in inputs]}")
        if store is not None and len(image_rows) != len(inputs[0]):
            raise ValueError(f"{len(inputs[0])} texts but {len(image_rows)} image rows")
        if store is not None and len(image_rows) and (image_rows.min() < 0 or image_rows.max() >= len(store)):
            raise ValueError(f"image rows out of range for region store {store.path} with {len(store)} images")
        self.inputs, self.dictionary, self.targets = inputs, dictionary, targets
        self.store, self.image_rows, self.max_regions = store, image_rows, max_regions
        self.max_positions, self.shuffle, self.seed, self.epoch = max_positions, shuffle, seed, 1
        self.separators = 0 if pair_format == "release" else 1  # </s> between a pair beyond each text's own
        text = 1 + sum(np.asarray(x.sizes) for x in inputs) + self.separators * (len(inputs) - 1)  # + <s>
        self.text_sizes = np.minimum(text, max_positions)
        regions = 0 if store is None else np.minimum(store.num_boxes[image_rows], max_regions) + 1
        self.sizes = self.text_sizes + regions  # sequence positions of the joint pass

    def __len__(self) -> int:
        return len(self.inputs[0])

    def _text(self, index: int) -> torch.Tensor:
        bos, eos = self.dictionary.bos(), self.dictionary.eos()
        texts = [text[index].long() for text in self.inputs]  # each ends in </s>
        if self.separators:
            tokens = torch.cat([torch.tensor([bos])] + [torch.cat([torch.tensor([eos]), t]) if k else t
                                                         for k, t in enumerate(texts)])
            if len(tokens) > self.max_positions:
                tokens = torch.cat([tokens[: self.max_positions - 1], torch.tensor([eos])])
            return tokens
        words = [t[:-1] for t in texts]
        while 1 + sum(len(w) + 1 for w in words) > self.max_positions:  # cut the longer text, from its end
            longest = max(range(len(words)), key=lambda k: len(words[k]))
            words[longest] = words[longest][:-1]
        return torch.cat([torch.tensor([bos])] + [torch.cat([w, torch.tensor([eos])]) for w in words])

    def __getitem__(self, index: int) -> Dict[str, Any]:
        tokens = self._text(index)
        sample = {"id": index, "tokens": tokens}
        if self.store is not None:
            sample["regions"] = load_regions(self.store, int(self.image_rows[index]), self.max_regions)
        if self.targets is not None:
            sample["target"] = self.targets[index]
        return sample

    def collater(self, samples: List[Dict[str, Any]]) -> Dict[str, Any]:
        if not samples:
            return {}
        tokens = data_utils.collate_tokens([s["tokens"] for s in samples], self.dictionary.pad())
        batch = {"id": torch.tensor([s["id"] for s in samples]), "net_input": {"src_tokens": tokens},
                 "nsentences": len(samples), "ntokens": int(tokens.ne(self.dictionary.pad()).sum())}
        if self.store is not None:
            regions = collate_regions([s["regions"] for s in samples])
            batch["net_input"].update(regions=regions["features"], boxes=regions["boxes"],
                                      region_padding_mask=regions["padding_mask"])
        if self.targets is not None:
            batch["target"] = self.targets.collate([s["target"] for s in samples])
        return batch

    def num_tokens(self, index: int) -> int:
        """Sequence positions (regions + text): what ``--max-tokens`` budgets."""
        return int(self.sizes[index])

    def size(self, index: int) -> int:
        """Text tokens: what ``--max-positions`` limits (regions have no position embedding)."""
        return int(self.text_sizes[index])

    def set_epoch(self, epoch: int):
        self.epoch = epoch

    @property
    def can_reuse_epoch_itr_across_epochs(self) -> bool:
        return False  # the order is reshuffled every epoch

    def ordered_indices(self) -> np.ndarray:
        """Shuffled (per seed and epoch) and then sorted by size, as fairseq's SortDataset does it."""
        if not self.shuffle:
            return np.argsort(self.sizes, kind="mergesort")
        with data_utils.numpy_seed(self.seed, self.epoch):
            order = np.random.permutation(len(self))
        return order[np.argsort(self.sizes[order], kind="mergesort")]
