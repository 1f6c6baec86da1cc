"""``unimo_pretrain``: text, image and image-text pretraining through ``fairseq-train``.

DATA holds ``dict.txt`` and, by default, the three corpora (each optional)::

    DATA/text/{split}.bin,.idx        text corpus (binarize_text.py; blank lines split documents)
    DATA/images/{split}/              region store of an image-only corpus (import/extract_regions.py)
    DATA/pairs/{split}.*              caption dataset + its region store (binarize_captions.py),
                                      with optional CMCL sidecars (see unimo_plugin/formats/cmcl_sidecars.py)

``--text-data``, ``--image-data`` and ``--pair-data`` point elsewhere.
"""
import logging
import os
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import List, Optional

import numpy as np
from fairseq.data import FairseqDataset, PrependTokenDataset, TokenBlockDataset, data_utils
from fairseq.data.iterators import EpochBatchIterator
from fairseq.tasks import register_task
from omegaconf import II

from ..common.artifacts import manifest_path
from ..data.cmcl_selection import parse_selection, select_sidecars
from ..data.pretrain.corpus import Objectives
from ..data.pretrain.image_corpus import ImageCorpusDataset
from ..data.pretrain.modality_mix import ModalityMixDataset
from ..data.pretrain.pair_corpus import CMCL_LIMIT_KEYS, PairCorpusDataset
from ..data.pretrain.text_corpus import TextCorpusDataset
from ..formats import cmcl_sidecars
from ..formats.region_store import RegionStore, open_region_store_of, read_rows
from .base_task import UnimoTask, UnimoTaskConfig

logger = logging.getLogger(__name__)

CORPORA = ("text", "image", "pair")


@dataclass
class UnimoPretrainConfig(UnimoTaskConfig):
    data: str = field(default="", metadata={"help": "directory with dict.txt and (by default) the corpora "
                                                    "text/, images/ and pairs/"})
    text_data: Optional[str] = field(default=None, metadata={"help": "text corpus dir (default DATA/text)"})
    image_data: Optional[str] = field(
        default=None, metadata={"help": "image-only corpus: dir of one region store per split (default DATA/images)"})
    pair_data: Optional[str] = field(
        default=None, metadata={"help": "image-text caption dataset dir (default DATA/pairs)"})
    pair_region_store: Optional[str] = field(
        default=None, metadata={"help": "region store of the pairs' images, for each split "
                                        "(default: the store named in the caption manifest)"})
    modality_ratios: str = field(
        default="by-size",
        metadata={"help": "share of the training samples each epoch draws from the text, image and pair corpora "
                          "(validation reads every sample once), "
                          "e.g. 'text:1,image:1,pair:2' (missing corpora count 0); 'by-size' for "
                          "their numbers of samples, 'by-tokens' for their numbers of sequence positions "
                          "(text tokens + regions)"})
    tokens_per_sample: int = field(default=256, metadata={"help": "text block length (sentences are packed)"})
    mask_prob: float = field(default=0.15, metadata={"help": "share of text tokens masked for masked LM"})
    region_mask_prob: float = field(default=0.15, metadata={"help": "share of regions masked for masked "
                                                                       "region modelling"})
    region_overlap_threshold: float = field(
        default=0.4, metadata={"help": "regions whose IoU with a masked region exceeds this are masked too "
                                       "(>= 1 disables)"})
    seq2seq_prob: float = field(
        default=0.5, metadata={"help": "probability that a text or pair sample is a seq2seq LM example "
                                       "instead of a masked LM one (the MLM/seq2seq alternation)"})
    seq2seq_fragment_ratio: float = field(
        default=0.25, metadata={"help": "share of a text's tokens that form the seq2seq target fragment"})
    max_regions_per_image: int = field(
        default=100, metadata={"help": "regions kept per image (stores keep detector order)"})
    max_regions: Optional[int] = field(
        default=None, metadata={"help": "batch budget of regions (with padding and every CMCL pass), "
                                        "beside --max-tokens for text tokens; without it regions count "
                                        "against --max-tokens like tokens"})
    max_caption_tokens: int = field(default=64, metadata={"help": "captions and sidecar texts are cut to this"})
    object_tags: Optional[str] = field(
        default=None, metadata={"help": "put detector object tags as text between the regions and the caption: "
                                        "prefix of a binarized dataset with one class name per detector class "
                                        "(background first), e.g. binarize_text.py over the class list"})
    object_tag_threshold: float = field(
        default=0.2, metadata={"help": "a region's top class becomes a tag at this confidence or above"})
    max_object_tags: int = field(default=10, metadata={"help": "tags per image, most confident first"})
    cmcl: bool = field(default=True, metadata={"help": "cross-modal contrastive learning on the pair corpus"})
    cmcl_paraphrases: int = field(default=2, metadata={"help": "paraphrase positives drawn per pair"})
    cmcl_negatives: int = field(default=4, metadata={"help": "rewritten/retrieved hard negatives drawn per pair"})
    cmcl_select: str = field(
        default="all", metadata={"help": "which CMCL sidecars a run uses: all, none (in-batch negatives only), or a "
                                         "comma-separated list of paraphrases, texts, images, negatives and "
                                         "negatives:FILTER, FILTER a level (sentence, phrase, word), a kind (retrieved, "
                                         "object, attribute, relation), LEVEL/KIND or KIND/TYPE; e.g. "
                                         "'negatives:sentence,negatives:phrase,paraphrases'"})
    cmcl_retrieved_texts: int = field(default=1, metadata={"help": "retrieved-text positives drawn per pair"})
    cmcl_retrieved_images: int = field(default=1, metadata={"help": "retrieved-image positives drawn per pair"})
    train_subset: str = II("dataset.train_subset")
    update_freq: List[int] = II("optimization.update_freq")
    seed: int = II("common.seed")


@register_task("unimo_pretrain", dataclass=UnimoPretrainConfig)
class UnimoPretrainTask(UnimoTask):
    cfg: UnimoPretrainConfig

    def __init__(self, cfg: UnimoPretrainConfig, dictionary):
        super().__init__(cfg, dictionary)
        self.cmcl_selection = parse_selection(cfg.cmcl_select)  # a bad --cmcl-select fails before any data is read

    def _corpus_dir(self, name):
        given = {"text": self.cfg.text_data, "image": self.cfg.image_data, "pair": self.cfg.pair_data}[name]
        return given or os.path.join(self.cfg.data, {"text": "text", "image": "images", "pair": "pairs"}[name])

    def data_dirs(self) -> List[str]:
        return [self._corpus_dir("text"), self._corpus_dir("pair")]

    def _ratios(self, corpora):
        if self.cfg.modality_ratios == "by-size":
            return [len(c) for c in corpora.values()]
        if self.cfg.modality_ratios == "by-tokens":
            return [float(np.sum(c.positions)) for c in corpora.values()]
        ratios = {}
        for part in self.cfg.modality_ratios.split(","):
            key, _, value = part.partition(":")
            if key.strip() not in CORPORA or not value:
                raise ValueError(f"--modality-ratios: {part!r} is not corpus:ratio with corpus in {CORPORA}")
            ratios[key.strip()] = float(value)
        return [ratios.get(name, 0.0) for name in corpora]

    def load_dataset(self, split: str, epoch: int = 1, combine: bool = False, **kwargs):
        corpora = OrderedDict()
        for name, load in (("text", self._load_text), ("image", self._load_images), ("pair", self._load_pairs)):
            dataset = load(self._corpus_dir(name), split)
            if dataset is not None:
                corpora[name] = dataset
                logger.info("%s %s: %d samples from %s", split, name, len(dataset), self._corpus_dir(name))
        if not corpora:
            raise FileNotFoundError(f"no corpus has a '{split}' split under {self.cfg.data} "
                                    f"(text/{split}.bin, images/{split}/, pairs/{split}.bin)")
        training = split == self.cfg.train_subset
        self.datasets[split] = ModalityMixDataset(corpora, self._ratios(corpora) if training else None,
                                                  self.cfg.seed, self.cfg.max_regions)

    def get_batch_iterator(self, dataset: FairseqDataset, **kwargs) -> EpochBatchIterator:
        """Training batches in whole steps of workers x update-freq batches of one corpus, which the
        dataset shuffles itself (see ModalityMixDataset); validation reads each sample once."""
        if not (isinstance(dataset, ModalityMixDataset) and dataset.ratios is not None):
            return super().get_batch_iterator(dataset, **kwargs)
        epoch = kwargs.get("epoch", 1)
        update_freq = self.cfg.update_freq[min(epoch, len(self.cfg.update_freq)) - 1]
        dataset.step_batches = kwargs.get("num_shards", 1) * update_freq
        iterator = super().get_batch_iterator(dataset, **kwargs)
        iterator.disable_shuffling = True
        return iterator

    def _load_text(self, directory, split):
        prefix = os.path.join(directory, split)
        tokens = data_utils.load_indexed_dataset(prefix, self.dictionary, combine=False)
        if tokens is None:
            return None
        blocks = TokenBlockDataset(tokens, tokens.sizes, self.cfg.tokens_per_sample - 2, pad=self.dictionary.pad(),
                                   eos=self.dictionary.eos(), break_mode="complete")
        blocks = PrependTokenDataset(blocks, self.dictionary.bos())
        return TextCorpusDataset(blocks=blocks, dictionary=self.dictionary, mask_idx=self.mask_idx,
                                 objectives=Objectives.from_options(self.cfg))

    def _load_images(self, directory, split):
        path = os.path.join(directory, split)
        if not os.path.exists(manifest_path(path)):
            return None
        return ImageCorpusDataset(store=RegionStore(path), objectives=Objectives.from_options(self.cfg),
                                  max_regions=self.cfg.max_regions_per_image)

    def _load_pairs(self, directory, split):
        prefix = os.path.join(directory, split)
        captions = data_utils.load_indexed_dataset(prefix, self.dictionary, combine=False)
        if captions is None:
            return None
        store = open_region_store_of(directory, self.cfg.pair_region_store, "--pair-region-store")
        image_rows = read_rows(prefix, len(captions), mmap_mode="r")
        sidecars = {kind: cmcl_sidecars.CaptionSidecar(prefix, kind, len(captions), store)
                    for kind in cmcl_sidecars.KINDS
                    if self.cfg.cmcl and self.cmcl_selection.uses(kind) and cmcl_sidecars.exists(prefix, kind)}
        sidecars = select_sidecars(sidecars, self.cmcl_selection, lambda: cmcl_sidecars.read_meta(prefix),
                                   f"{prefix}.cmcl.negatives")
        if self.cfg.cmcl and self.cfg.cmcl_select != "all":
            logger.info("%s: CMCL sidecars of --cmcl-select %s: %s", split, self.cfg.cmcl_select,
                        ", ".join(f"{kind} {len(sidecar.items)}" for kind, sidecar in sidecars.items()) or "none")
        limits = {kind: getattr(self.cfg, key) for kind, key in CMCL_LIMIT_KEYS.items()}
        return PairCorpusDataset(
            captions=captions, image_rows=image_rows, store=store, dictionary=self.dictionary, mask_idx=self.mask_idx,
            objectives=Objectives.from_options(self.cfg), max_regions=self.cfg.max_regions_per_image,
            max_caption_tokens=self.cfg.max_caption_tokens, cmcl=self.cfg.cmcl, sidecars=sidecars, limits=limits,
            tagger=self.object_tagger())

    def max_positions(self) -> None:
        return None  # samples are cut to --tokens-per-sample / --max-caption-tokens; the model sets the limit
