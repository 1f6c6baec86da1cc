"""--cmcl-select: which CMCL sidecars and which negatives (by level, kind and type) a pretraining run uses,
from one data directory; its syntax and errors, and the pair corpus a task loads with it."""
import os

import pytest

from unimo_plugin.data.cmcl_selection import parse_selection
from unimo_plugin.formats import cmcl_sidecars
from unimo_plugin.tasks.unimo_pretrain import UnimoPretrainConfig, UnimoPretrainTask
from unimo_plugin.testing import synthetic_corpora

# one caption's negatives: what each is, as the rewriting and retrieval scripts record it
META = [{"level": "sentence", "swapped": {"kind": "retrieved", "caption_id": "x"}},
        {"level": "phrase", "swapped": {"kind": "object", "type": "phrase"}},
        {"level": "word", "swapped": {"kind": "attribute", "type": "colour"}},
        {"level": "word", "swapped": {"kind": "relation", "type": "position"}}]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """Synthetic pretraining data whose negatives sidecar holds, per caption, the four negatives of META."""
    root = str(tmp_path_factory.mktemp("selection"))
    d = synthetic_corpora.dictionary()
    synthetic_corpora.build(root, d)
    for split in ("train", "valid"):
        prefix = os.path.join(root, "pairs", split)
        n = len(cmcl_sidecars.read_meta(prefix)) // 2  # the build wrote 2 negatives per caption
        items = [[[d.index(str(1000 + k)), d.eos()] for k in range(4)] for _ in range(n)]
        cmcl_sidecars.write_text_sidecar(prefix, "negatives", items, len(d), [META] * n)
    return root


def pairs_of(data_dir, select):
    cfg = UnimoPretrainConfig(data=data_dir, seed=3, train_subset="train", update_freq=[1], cmcl_select=select)
    task = UnimoPretrainTask.setup_task(cfg)
    task.load_dataset("train")
    return task.datasets["train"].corpora["pair"]


def first_words(pairs, caption=0):
    return [int(t[0]) - pairs.dictionary.nspecial for t in pairs.sidecars["negatives"][caption]]


def test_selection_picks_negatives_by_level_kind_and_type(data_dir):
    everything = pairs_of(data_dir, "all")
    assert set(everything.sidecars) == {"paraphrases", "negatives", "texts", "images"}
    assert first_words(everything) == [0, 1, 2, 3]
    chosen = pairs_of(data_dir, "negatives:sentence, negatives:phrase, paraphrases")
    assert set(chosen.sidecars) == {"negatives", "paraphrases"} and first_words(chosen) == [0, 1]
    assert first_words(chosen, caption=5) == [0, 1] and len(chosen.sidecars["negatives"].items) == 2 * len(chosen)
    assert first_words(pairs_of(data_dir, "negatives:word")) == [2, 3]
    assert first_words(pairs_of(data_dir, "negatives:word/attribute,negatives:relation/position")) == [2, 3]
    assert first_words(pairs_of(data_dir, "negatives:object/phrase,negatives:retrieved")) == [0, 1]
    assert set(pairs_of(data_dir, "negatives,images").sidecars) == {"negatives", "images"}
    assert first_words(pairs_of(data_dir, "negatives,negatives:word")) == [0, 1, 2, 3]  # whole wins
    none = pairs_of(data_dir, "none")
    assert none.sidecars == {} and not none[0]["cmcl"].get("negatives")  # in-batch negatives only
    drawn = chosen[0]["cmcl"]["negatives"]  # <s> first
    assert drawn and all(int(t[1]) - chosen.dictionary.nspecial in (0, 1) for t in drawn)


@pytest.mark.parametrize("spec, message", [
    ("negatives:adjective", "'negatives:adjective' names no level or kind"),
    ("paraphrase", "unknown 'paraphrase'"),
    ("texts:sentence", "unknown 'texts:sentence'"),
    ("all,negatives", "'all' and 'none' stand alone"),
    ("negatives:", "names no level or kind"),
    ("negatives:word/colour", "names no level or kind"),
    ("", "an empty part"),
])
def test_bad_selections_say_what_is_wrong_and_the_syntax(spec, message):
    with pytest.raises(ValueError, match="--cmcl-select") as error:
        parse_selection(spec)
    assert message in str(error.value) and "negatives:FILTER" in str(error.value)


def test_a_filter_that_selects_nothing_names_what_there_is(data_dir):
    with pytest.raises(ValueError, match=r"negatives:attribute/color selects none of the \d+ negatives of .*"
                                         r"attribute/colour"):
        pairs_of(data_dir, "negatives:word,negatives:attribute/color")
    with pytest.raises(ValueError, match="unknown 'tfidf'"):  # at the task's setup, before any data is read
        UnimoPretrainTask.setup_task(UnimoPretrainConfig(data=data_dir, cmcl_select="tfidf"))
