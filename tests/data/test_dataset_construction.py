"""Datasets take their settings by name: a positional call (the long argument lists of before, where
one shifted argument silently swaps two settings) fails before anything is read."""
import pytest

from unimo_plugin.data.finetune.caption_generation import CaptionGenerationDataset
from unimo_plugin.data.finetune.labeled_dataset import LabeledDataset
from unimo_plugin.data.finetune.retrieval_pairs import RetrievalPairsDataset
from unimo_plugin.data.pretrain.image_corpus import ImageCorpusDataset
from unimo_plugin.data.pretrain.pair_corpus import PairCorpusDataset
from unimo_plugin.data.pretrain.text_corpus import TextCorpusDataset


@pytest.mark.parametrize("dataset", [TextCorpusDataset, ImageCorpusDataset, PairCorpusDataset,
                                     CaptionGenerationDataset, RetrievalPairsDataset, LabeledDataset])
def test_positional_arguments_are_refused(dataset):
    with pytest.raises(TypeError, match=rf"{dataset.__name__}.__init__\(\) takes 1 positional argument but 3 were"):
        dataset(object(), object())
