"""Text-to-text samples (``unimo_seq2seq``): fairseq's language pairs, every sample batched."""
from fairseq.data import LanguagePairDataset

from ..batching import KeepsLastBatch


class Seq2seqPairDataset(KeepsLastBatch, LanguagePairDataset):
    """fairseq's language-pair dataset (source and target share the dictionary), every sample batched."""
