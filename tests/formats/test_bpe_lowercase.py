"""--lowercase: text is lowercased before the BPE, and the BPE record says so, so that the hub,
fairseq-generate/-interactive and the data scripts all read text the way the model was trained on it
(the released UNIMO models read lowercased text)."""
import json
from argparse import Namespace

import pytest

from unimo_plugin.cli.shared_args import add_bpe_args, bpe_config
from unimo_plugin.common.artifacts import write_manifest
from unimo_plugin.formats.bpe import BpeTokenizer, bpe_record, build_recorded_bpe, recorded_bpe
from unimo_plugin.testing.labeled_data import make_bpe


@pytest.fixture(scope="module")
def bpe_args(tmp_path_factory):
    _, args, _ = make_bpe(["a small red circle on the left", "the big blue square"],
                          str(tmp_path_factory.mktemp("bpe") / "bpe"))
    return args


def _config(args, *extra):
    import argparse

    return bpe_config(add_bpe_args(argparse.ArgumentParser()).parse_args(args + list(extra)))


def test_lowercasing_is_part_of_the_bpe_config_and_of_its_record(bpe_args, tmp_path):
    plain, lower = _config(bpe_args), _config(bpe_args, "--lowercase")
    assert not hasattr(plain, "lowercase") and lower.lowercase is True  # records of plain data stay as they were
    assert BpeTokenizer(lower)("A Small RED Circle") == BpeTokenizer(plain)("a small red circle")
    assert BpeTokenizer(plain)("A Small RED Circle") != BpeTokenizer(plain)("a small red circle")

    encoder = build_recorded_bpe(bpe_record(vars(lower)))
    assert encoder.encode("The Big Blue") == build_recorded_bpe(bpe_record(vars(plain))).encode("the big blue")
    assert encoder.decode(encoder.encode("The Big Blue")) == "the big blue"

    outputs = []
    for name, cfg in (("plain", plain), ("lower", lower)):
        outputs.append(str(tmp_path / name))
        write_manifest(outputs[-1], "unimo_text", bpe=vars(cfg))
    with pytest.raises(ValueError, match="different BPEs"):  # the same files, lowercased or not: not one BPE
        recorded_bpe(outputs)
    assert json.loads(recorded_bpe(outputs[1:]))["lowercase"] is True
