"""Every checkpoint knows its BPE: the tasks record the one the data's manifests name (``--bpe-record``),
fairseq-train saves it in the checkpoint's ``cfg.task``, and the hub encodes text through it; where no
BPE is known, text is refused instead of becoming ``<unk>``. The same checkpoint, its ``pooling`` option
removed, stands for one saved before ``--pooling`` existed."""
import json
import os
import re
import shutil
from argparse import Namespace

import numpy as np
import pytest
import torch
from fairseq.data.encoders import build_bpe

from unimo_plugin.common.artifacts import manifest_path, read_manifest, write_manifest
from unimo_plugin.formats.bpe import build_recorded_bpe
from unimo_plugin.formats.region_store import RegionStore
from unimo_plugin.preprocess.captions.caption_binarizer import binarize_captions
from unimo_plugin.preprocess.text.bpe_training import train_bpe
from unimo_plugin.preprocess.text.text_binarizer import binarize_text
from unimo_plugin.tasks.unimo_caption import UnimoCaptionConfig, UnimoCaptionTask
from unimo_plugin.tasks.unimo_pretrain import UnimoPretrainConfig, UnimoPretrainTask
from unimo_plugin.testing import synthetic_corpora
from unimo_plugin.testing.commands import REPO_ROOT, fairseq_bin, run_cli
from unimo_plugin.testing.synthetic_retrieval import FEATURE_DIM, write_retrieval_data

SENTENCE = "a small red circle on the left"  # words of the synthetic captions
GPT2 = {"bpe": "gpt2", "gpt2_encoder_json": "/elsewhere/encoder.json", "gpt2_vocab_bpe": "/elsewhere/vocab.bpe"}


@pytest.fixture
def synthetic(tmp_path):
    return synthetic_corpora.build(str(tmp_path / "data"), synthetic_corpora.dictionary(), num_images=8)


def test_data_without_bpe_records_none_and_reads_dictionary_symbols(synthetic):
    task = UnimoPretrainTask.setup_task(UnimoPretrainConfig(data=synthetic, seed=1))
    assert task.cfg.bpe_record == "none" and task.build_bpe(Namespace(bpe=None)) is None
    caption = UnimoCaptionTask.setup_task(UnimoCaptionConfig(data=synthetic))
    assert caption.cfg.bpe_record == "none" and caption.decode(torch.tensor([4, 5])) == "1000 1001"


def test_manifests_that_disagree_are_an_error_naming_both(synthetic):
    text = os.path.join(synthetic, "text", "train.bin")
    write_manifest(text, "unimo_text", bpe=GPT2)
    pairs = manifest_path(os.path.join(synthetic, "pairs"))
    with pytest.raises(ValueError, match=rf"different BPEs: {re.escape(manifest_path(text))} records .*gpt2.*, "
                                         rf"{re.escape(pairs)} records none; .*--bpe-record"):
        UnimoPretrainTask.setup_task(UnimoPretrainConfig(data=synthetic, seed=1))
    given = json.dumps(GPT2)  # the user's choice wins without reading the manifests
    assert UnimoPretrainTask.setup_task(UnimoPretrainConfig(data=synthetic, bpe_record=given)).cfg.bpe_record == given


def test_no_record_refuses_text_and_gone_files_are_named(synthetic):
    pairs = os.path.join(synthetic, "pairs")
    write_manifest(pairs, "unimo_captions", region_store=read_manifest(pairs)["region_store"])  # no "bpe"
    task = UnimoCaptionTask.setup_task(UnimoCaptionConfig(data=synthetic))
    assert task.cfg.bpe_record is None
    with pytest.raises(ValueError, match=r"no BPE is recorded .*from_pretrained\(\.\.\., bpe='gpt2'"):
        task.decode(torch.tensor([4, 5]))
    with pytest.raises(FileNotFoundError, match="names /elsewhere/encoder.json, /elsewhere/vocab.bpe, which no "
                                                "longer exist.*--bpe-record"):
        build_recorded_bpe(json.dumps(GPT2))


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """A unimo_pretrain checkpoint trained by fairseq-train on a text corpus and caption pairs binarized
    with a BPE trained here; ``bare`` holds only its dict.txt."""
    root = tmp_path_factory.mktemp("bpe-pretrain")
    karpathy, store, corpus = write_retrieval_data(str(root / "raw"), {"train": 16}, captions_per_image=3)
    train_bpe([corpus], str(root / "bpe"), vocab_size=300, min_frequency=1, only_seen_tokens=True)
    bpe = Namespace(bpe="gpt2", gpt2_encoder_json=str(root / "bpe" / "encoder.json"),
                    gpt2_vocab_bpe=str(root / "bpe" / "vocab.bpe"))
    data, bare = root / "data", root / "bare"
    for directory in (data, bare):
        directory.mkdir()
        shutil.copyfile(root / "bpe" / "dict.txt", directory / "dict.txt")
    binarize_captions([karpathy], str(data / "pairs"), store, str(data / "dict.txt"), bpe)
    (data / "text").mkdir()
    binarize_text(corpus, str(data / "text" / "train"), str(data / "dict.txt"), bpe)
    run_cli([fairseq_bin("fairseq-train"), str(data), "--user-dir", f"{REPO_ROOT}/unimo_plugin",
             "--task", "unimo_pretrain", "--arch", "unimo_tiny", "--criterion", "unimo_pretrain",
             "--region-feature-dim", str(FEATURE_DIM), "--num-region-classes", "2", "--encoder-layers", "2",
             "--encoder-embed-dim", "64", "--encoder-ffn-embed-dim", "128", "--max-tokens", "1000",
             "--optimizer", "adam", "--lr", "1e-3", "--max-update", "2", "--disable-validation", "--cpu",
             "--num-workers", "0", "--save-dir", str(root / "ckpt"), "--no-epoch-checkpoints"])
    return {"root": root, "data": str(data), "bare": str(bare), "store": store, "bpe": bpe,
            "checkpoint": root / "ckpt" / "checkpoint_last.pt"}


def _expected_tokens(hub, bpe_cfg, sentence):
    return hub.src_dict.encode_line(build_bpe(bpe_cfg).encode(sentence), add_if_not_exist=False).long()


@pytest.mark.slow
def test_pretraining_checkpoint_records_its_bpe_and_the_hub_encodes_through_it(pretrained):
    from unimo_plugin.models import UnimoModel

    saved = torch.load(pretrained["checkpoint"], map_location="cpu")["cfg"]["task"]["bpe_record"]
    assert json.loads(saved) == vars(pretrained["bpe"]) == read_manifest(os.path.join(pretrained["data"], "pairs"))["bpe"]
    for data in (pretrained["data"], pretrained["bare"]):  # the checkpoint alone knows it
        hub = UnimoModel.from_pretrained(str(pretrained["checkpoint"].parent), "checkpoint_last.pt",
                                         data_name_or_path=data)
        tokens = hub.encode(SENTENCE)
        assert hub.src_dict.unk() not in tokens.tolist() and len(tokens) > 2
        assert torch.equal(tokens, _expected_tokens(hub, pretrained["bpe"], SENTENCE))
        assert hub.decode(tokens) == SENTENCE and hub.encode_text(SENTENCE).shape == (64,)


@pytest.mark.slow
def test_checkpoint_without_a_record_refuses_text_until_given_a_bpe(pretrained, tmp_path):
    from unimo_plugin.models import UnimoModel

    state = torch.load(pretrained["checkpoint"], map_location="cpu")
    del state["cfg"]["task"]["bpe_record"]  # as saved before checkpoints recorded their BPE
    torch.save(state, tmp_path / "old.pt")
    hub = UnimoModel.from_pretrained(str(tmp_path), "old.pt", data_name_or_path=pretrained["bare"])
    image = RegionStore(pretrained["store"])[0]
    assert hub.encode_image(image.features, image.boxes, image.width, image.height).shape == (64,)
    with pytest.raises(ValueError, match=r"no BPE is recorded .*from_pretrained\(\.\.\., bpe='gpt2'"):
        hub.encode_text(SENTENCE)

    given = UnimoModel.from_pretrained(str(tmp_path), "old.pt", data_name_or_path=pretrained["bare"],
                                       **vars(pretrained["bpe"]))  # explicit options
    from_data = UnimoModel.from_pretrained(str(tmp_path), "old.pt", data_name_or_path=pretrained["data"])
    expected = _expected_tokens(hub, pretrained["bpe"], SENTENCE)
    assert torch.equal(given.encode(SENTENCE), expected) and torch.equal(from_data.encode(SENTENCE), expected)
    assert np.isfinite(given.encode_text(SENTENCE).numpy()).all()


@pytest.mark.slow
def test_checkpoint_saved_before_pooling_existed_pools_the_first_position(pretrained, tmp_path):
    from unimo_plugin.models import UnimoModel

    state = torch.load(pretrained["checkpoint"], map_location="cpu")
    assert state["cfg"]["model"]["pooling"] == "first"
    del state["cfg"]["model"]["pooling"]  # as saved before --pooling existed
    torch.save(state, tmp_path / "old.pt")
    old = UnimoModel.from_pretrained(str(tmp_path), "old.pt", data_name_or_path=pretrained["data"])
    new = UnimoModel.from_pretrained(str(pretrained["checkpoint"].parent), "checkpoint_last.pt",
                                     data_name_or_path=pretrained["data"])
    assert old.model.cfg.pooling == "first"
    torch.testing.assert_close(old.encode_text(SENTENCE), new.encode_text(SENTENCE))
