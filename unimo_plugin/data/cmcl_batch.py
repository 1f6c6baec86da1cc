"""The batch of CMCL's single-modal passes: what the pair corpus's collater gives,
``UnimoModel.forward(cmcl_inputs=...)`` encodes and ``criterions/cmcl.py``'s ``cmcl_loss`` scores.

A NamedTuple because fairseq moves samples to the GPU and casts them to half precision with
``utils.apply_to_sample``, which reaches the tensors of dicts, lists and tuples only: the tensors of
any other object would stay on the CPU in float32. It rebuilds a tuple as a plain ``tuple`` of the
converted fields, in order, so consumers type it again with :meth:`CmclBatch.of`.
"""
from typing import NamedTuple, Sequence

import torch


class CmclBatch(NamedTuple):
    """``Ni`` images and ``Nt`` texts, each encoded alone, the ``A`` anchors' (the batch's pairs) first,
    in anchor order; and per anchor up to ``M`` candidate (image, text) pairs beside the anchor pair itself.

    Fields:
        texts: (Nt, T) ``<s> w.. </s>`` token ids, right-padded.
        regions: (Ni, R, D) region features.
        boxes: (Ni, R, 5) normalised boxes.
        region_padding_mask: (Ni, R), True at padded regions.
        candidate_image: (A, M) index into the images of each candidate pair.
        candidate_text: (A, M) index into the texts of each candidate pair.
        candidate_positive: (A, M) bool, True where the pair matches (paraphrase, retrieved text or image).
        candidate_valid: (A, M) bool, False in the padding of anchors with fewer than M candidates.
        image_rows: (A,) region-store rows of the anchors' images: anchors showing one image are no
            negatives of each other.
    """

    texts: torch.Tensor
    regions: torch.Tensor
    boxes: torch.Tensor
    region_padding_mask: torch.Tensor
    candidate_image: torch.Tensor
    candidate_text: torch.Tensor
    candidate_positive: torch.Tensor
    candidate_valid: torch.Tensor
    image_rows: torch.Tensor

    @classmethod
    def of(cls, batch: Sequence[torch.Tensor]) -> "CmclBatch":
        """``batch`` as a CmclBatch: itself, or the plain tuple fairseq's ``apply_to_sample`` made of one."""
        if isinstance(batch, cls):
            return batch
        if not isinstance(batch, tuple) or len(batch) != len(cls._fields):
            raise TypeError(f"a CMCL batch is a tuple of {len(cls._fields)} tensors ({', '.join(cls._fields)}), "
                            f"got {type(batch).__name__} of {len(batch)}")
        return cls._make(batch)

    @classmethod
    def anchors_only(cls, texts: torch.Tensor, regions: torch.Tensor, boxes: torch.Tensor,
                     region_padding_mask: torch.Tensor, image_rows: torch.Tensor) -> "CmclBatch":
        """Image-text pairs without candidates: each scored against the other pairs alone."""
        none = image_rows.new_zeros(len(image_rows), 0)
        return cls(texts, regions, boxes, region_padding_mask, candidate_image=none, candidate_text=none,
                   candidate_positive=none.bool(), candidate_valid=none.bool(), image_rows=image_rows)

    @property
    def num_anchors(self) -> int:
        return len(self.image_rows)
