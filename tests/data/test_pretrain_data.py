"""unimo_pretrain data: objectives per sample, collaters per modality, batching, determinism."""
import os
from collections import OrderedDict

import numpy as np
import pytest
import torch

from unimo_plugin.common.artifacts import manifest_path
from unimo_plugin.data.cmcl_batch import CmclBatch
from unimo_plugin.data.object_tags import ObjectTagger, tag_source
from unimo_plugin.data.pretrain.corpus import Objectives, PretrainCorpus
from unimo_plugin.data.pretrain.modality_mix import ModalityMixDataset
from unimo_plugin.data.region_masking import choose_masked_regions
from unimo_plugin.data.token_masking import mask_tokens, seq2seq_example, split_fragment
from unimo_plugin.formats import cmcl_sidecars
from unimo_plugin.formats.region_store import RegionStore
from unimo_plugin.tasks.unimo_pretrain import UnimoPretrainConfig, UnimoPretrainTask
from unimo_plugin.testing import synthetic_corpora as pretrain_data


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("pretrain")
    pretrain_data.build(str(root), pretrain_data.dictionary())
    return root


def make_task(data_dir, **overrides):
    cfg = UnimoPretrainConfig(data=str(data_dir), seed=3, train_subset="train", update_freq=[1], **overrides)
    task = UnimoPretrainTask.setup_task(cfg)
    task.load_dataset("train")
    return task, task.datasets["train"]


def test_mask_tokens_never_touches_specials_and_targets_only_masked():
    d = pretrain_data.dictionary()
    mask_idx = d.add_symbol("<mask>")
    tokens = torch.tensor([d.bos()] + list(range(d.nspecial, d.nspecial + 30)) + [d.eos()])
    out, targets = mask_tokens(tokens, np.random.default_rng(0), d, mask_idx, mask_prob=0.3)
    chosen = targets.ne(d.pad())
    assert out[0] == d.bos() and out[-1] == d.eos() and not chosen[[0, -1]].any()
    assert 6 <= int(chosen.sum()) <= 12 and torch.equal(targets[chosen], tokens[chosen])
    assert torch.equal(out[~chosen], tokens[~chosen])
    assert (out[chosen] == mask_idx).float().mean() > 0.5


def test_seq2seq_example_layout():
    d = pretrain_data.dictionary()
    source, target = torch.tensor([0, 10, 11, 2]), torch.tensor([12, 13])
    tokens, targets, target_mask = seq2seq_example(source, target, d)
    assert tokens.tolist() == [0, 10, 11, 2, 2, 12, 13]
    assert targets.tolist() == [1, 1, 1, 1, 12, 13, 2]
    assert target_mask.tolist() == [False] * 4 + [True] * 3
    split = split_fragment(torch.tensor([0] + list(range(10, 30)) + [2]), np.random.default_rng(1), 0.25, d)
    src, frag = split
    assert len(frag) == 5 and len(src) == 17 and src[0] == 0 and src[-1] == 2
    full = torch.tensor(list(range(10, 30)))
    start = int((full == frag[0]).nonzero())
    assert torch.equal(full[start:start + 5], frag)


def test_overlapping_regions_are_masked_together():
    boxes = torch.tensor([[0, 0, 0.5, 0.5], [0.01, 0.01, 0.5, 0.5], [0.6, 0.6, 1, 1.0]])
    for seed in range(20):
        masked = choose_masked_regions(boxes, np.random.default_rng(seed), 0.34, 0.4)
        assert masked.any() and masked[0] == masked[1]
    assert not choose_masked_regions(boxes, np.random.default_rng(0), 0.0, 0.4).any()


def test_collaters_per_modality(data_dir):
    task, mix = make_task(data_dir, cmcl_negatives=2)
    d = task.source_dictionary
    by_corpus = {}
    for i in range(len(mix)):
        by_corpus.setdefault(mix[i]["corpus"], []).append(mix[i])
    text = mix.collater(by_corpus["text"][:3])
    assert text["modality"] == "text" and text["net_input"]["src_tokens"].shape == text["lm_targets"].shape
    assert "regions" not in text["net_input"]

    image = mix.collater(by_corpus["image"][:3])
    n = image["net_input"]
    assert image["modality"] == "image" and "src_tokens" not in n
    assert n["regions"].shape[:2] == n["boxes"].shape[:2] == n["region_padding_mask"].shape
    assert (image["region_masked"] & n["region_padding_mask"]).sum() == 0 and image["region_masked"].any()
    assert torch.all(n["regions"][image["region_masked"]] == 0)
    assert image["region_cls_targets"].shape[-1] == pretrain_data.NUM_CLASSES

    pair = mix.collater(by_corpus["pair"][:4])
    c = pair["cmcl"]
    assert pair["modality"] == "pair" and isinstance(c, CmclBatch) and c.image_rows.shape == (4,)
    assert torch.all(c.texts[:, 0] == d.bos())
    # every anchor: 1 paraphrase (+), 2 negatives (-), 1 retrieved image (+), a retrieved text on odd captions
    captions = mix.draw[pair["id"]] - mix.offsets[2]
    assert c.candidate_valid.sum(1).tolist() == [4 + (int(i) % 2) for i in captions]
    positives = (c.candidate_positive & c.candidate_valid).sum(1)
    assert positives.tolist() == [2 + (int(i) % 2) for i in captions]
    assert c.regions.shape[0] == 8  # 4 anchors + 4 retrieved images


def test_corpora_share_the_objectives_of_the_task_options(data_dir):
    task, mix = make_task(data_dir, mask_prob=0.2, region_mask_prob=0.1, region_overlap_threshold=0.5,
                          seq2seq_prob=0.3, seq2seq_fragment_ratio=0.4)
    want = Objectives(seed=3, mask_prob=0.2, region_mask_prob=0.1, region_overlap_threshold=0.5, seq2seq_prob=0.3,
                      seq2seq_fragment_ratio=0.4)
    assert list(mix.corpora) == ["text", "image", "pair"]
    assert all(corpus.objectives == want for corpus in mix.corpora.values())


def test_samples_are_deterministic_per_seed_and_epoch(data_dir):
    _, a = make_task(data_dir)
    _, b = make_task(data_dir)
    for i in (0, 50, len(a) - 1):
        x, y = a[i], b[i]
        assert torch.equal(x.get("tokens", torch.zeros(0)), y.get("tokens", torch.zeros(0)))
        assert torch.equal(x.get("region_masked", torch.zeros(0)), y.get("region_masked", torch.zeros(0)))
    a.set_epoch(2)
    differs = [not torch.equal(a[i]["tokens"], b[i]["tokens"]) for i in range(40) if "tokens" in a[i]]
    assert any(differs)
    a.set_epoch(1)
    assert [len(bt) for bt in a.batch_by_size(a.ordered_indices(), max_tokens=400)] == \
        [len(bt) for bt in b.batch_by_size(b.ordered_indices(), max_tokens=400)]


def test_ratios_and_budgets(data_dir):
    _, mix = make_task(data_dir, modality_ratios="text:1,image:0,pair:3", max_regions=60)
    indices = mix.ordered_indices()
    corpus = np.searchsorted(mix.offsets, mix.draw[indices], side="right") - 1
    counts = np.bincount(corpus, minlength=3)
    assert counts[1] == 0 and counts[2] == pytest.approx(3 * counts[0], abs=2)
    batches = mix.batch_by_size(indices, max_tokens=300)
    for batch in batches:
        assert len({int(np.searchsorted(mix.offsets, mix.draw[i], side="right")) for i in batch}) == 1
        width_tokens = max(mix.num_tokens(i) for i in batch) * len(batch)
        width_regions = max(mix.num_regions(i) for i in batch) * len(batch)
        assert width_tokens <= 300 and width_regions <= 60
    _, by_tokens = make_task(data_dir, modality_ratios="by-tokens")
    positions = [float(np.sum(c.positions)) for c in by_tokens.corpora.values()]
    assert by_tokens.ratios == pytest.approx([p / sum(positions) for p in positions])
    assert positions[1] == sum(min(int(n), 100) + 1 for n in by_tokens.corpora["image"].store.num_boxes)
    with pytest.raises(ValueError, match="corpus:ratio"):
        make_task(data_dir, modality_ratios="video:1")
    with pytest.raises(ValueError, match="more than --max-tokens"):
        mix.batch_by_size(indices, max_tokens=5)


class _Lengths(PretrainCorpus):
    """A corpus of texts of the given lengths, for batching alone."""

    def __init__(self, sizes, batch_by_length):
        self.sizes = self.batch_tokens = np.asarray(sizes)
        self.batch_regions = np.zeros(len(sizes), np.int64)
        self.batch_by_length = batch_by_length

    def __len__(self):
        return len(self.sizes)


def _mix_of_lengths():
    rng = np.random.default_rng(0)
    corpora = OrderedDict(text=_Lengths(rng.integers(5, 30, 400), True), pair=_Lengths(rng.integers(5, 30, 400), False))
    return ModalityMixDataset(corpora, ratios=[1, 1], seed=1)


def test_cmcl_pair_batches_mix_caption_lengths(data_dir):
    """Same-length pair batches let CMCL tell a caption from its paraphrases by length alone; other
    corpora batch by length (tight batches)."""
    assert not make_task(data_dir, cmcl=True)[1].corpora["pair"].batch_by_length
    assert make_task(data_dir, cmcl=False)[1].corpora["pair"].batch_by_length
    mix = _mix_of_lengths()
    spread = {"text": [], "pair": []}
    for batch in mix.batch_by_size(mix.ordered_indices(), max_tokens=300):
        corpus = mix.names[int(np.searchsorted(mix.draw_offsets, batch[0], side="right")) - 1]
        spread[corpus].append(np.ptp(mix.sizes[batch]))
    assert np.mean(spread["pair"]) > 15 and max(spread["text"]) <= 3


def test_batches_change_every_epoch():
    mix = _mix_of_lengths()
    first = {tuple(mix.draw[batch]) for batch in mix.batch_by_size(mix.ordered_indices(), max_tokens=300)}
    mix.set_epoch(2)
    second = {tuple(mix.draw[batch]) for batch in mix.batch_by_size(mix.ordered_indices(), max_tokens=300)}
    assert len(first & second) < 0.05 * len(first)


def test_sidecar_round_trip_and_mismatch(data_dir, tmp_path):
    prefix = str(tmp_path / "train")
    items = [[torch.tensor([5, 6, 2])], [], [torch.tensor([7, 2]), torch.tensor([8, 9, 2])]]
    cmcl_sidecars.write_text_sidecar(prefix, "negatives", items, 50, [[{"level": "word"}], [], [{}, {}]])
    side = cmcl_sidecars.CaptionSidecar(prefix, "negatives", 3)
    assert [[t.tolist() for t in side[i]] for i in range(3)] == [[[5, 6, 2]], [], [[7, 2], [8, 9, 2]]]
    store = RegionStore(data_dir / "pair_store")
    cmcl_sidecars.write_image_sidecar(prefix, [[3], [], [1, 20]], store)
    assert cmcl_sidecars.CaptionSidecar(prefix, "images", 3, store)[2] == [1, 20]
    with pytest.raises(ValueError, match="3 captions, but the caption dataset .* has 2"):
        cmcl_sidecars.CaptionSidecar(prefix, "images", 2, store)
    os.remove(manifest_path(prefix + ".cmcl.images"))  # written before sidecars recorded their store
    small = RegionStore(data_dir / "images" / "train")
    with pytest.raises(ValueError, match=f"train.cmcl.images.npy: row 20 is out of range for region store "
                                         f"{small.path} with 12 images"):
        cmcl_sidecars.CaptionSidecar(prefix, "images", 3, small)
    with pytest.raises(ValueError, match="metadata records"):
        cmcl_sidecars.write_text_sidecar(prefix, "negatives", items, 50, [[], [], []])


@pytest.mark.parametrize("modality", ["text", "image", "pair"])
def test_criterion_runs_each_modality_and_backpropagates(data_dir, modality):
    from unimo_plugin.criterions.unimo_pretrain import UnimoPretrainCriterion, UnimoPretrainCriterionConfig
    from unimo_plugin.testing.tiny_models import build_unimo

    task, mix = make_task(data_dir)
    model = build_unimo(task.source_dictionary, region_feature_dim=pretrain_data.FEATURE_DIM,
                        num_region_classes=pretrain_data.NUM_CLASSES, max_positions=256)
    crit = UnimoPretrainCriterion(UnimoPretrainCriterionConfig(), task)
    samples = [mix[i] for i in range(len(mix)) if mix[i]["corpus"] == modality][:4]
    loss, sample_size, log = crit(model, mix.collater(samples))
    loss.backward()
    assert sample_size == 1 and torch.isfinite(loss)
    expected = {"text": ["mlm", "seq2seq"], "image": ["mrm_feat", "mrm_cls"],
                "pair": ["mrm_feat", "mrm_cls", "cmcl"]}[modality]
    for name in expected:
        assert f"{name}_count" in log or name in ("mlm", "seq2seq"), name
    if modality == "pair":
        assert model.cmcl_temperature.log_temperature.grad is not None and log["cmcl_count"] == 4
    assert model.text_embeddings.embed_tokens.weight.grad is not None or modality == "image"


def test_cmcl_weighs_ten_times_the_other_objectives_by_default_and_logs_its_chance_level(data_dir):
    """At weight 1 the other objectives made the pooled <s> and [IMG] input-independent before CMCL
    could learn (the demo sat at chance for 400 updates); the default must keep CMCL's gradient ahead."""
    from unimo_plugin.criterions.unimo_pretrain import UnimoPretrainCriterion, UnimoPretrainCriterionConfig
    from unimo_plugin.testing.tiny_models import build_unimo

    task, mix = make_task(data_dir)
    model = build_unimo(task.source_dictionary, region_feature_dim=pretrain_data.FEATURE_DIM,
                        num_region_classes=pretrain_data.NUM_CLASSES, max_positions=256).eval()
    batch = mix.collater([mix[i] for i in range(len(mix)) if mix[i]["corpus"] == "pair"][:4])
    loss, _, log = UnimoPretrainCriterion(UnimoPretrainCriterionConfig(), task)(model, batch)
    parts = {name: log[f"{name}_loss"].item() / log[f"{name}_count"] for name in ("mlm", "seq2seq", "mrm_feat", "mrm_cls",
                                                                          "cmcl") if log[f"{name}_count"]}
    assert "cmcl" in parts
    assert loss.item() == pytest.approx(sum(parts.values()) + 9 * parts["cmcl"], rel=1e-5)
    assert 0 < log["cmcl_chance"].item() / log["cmcl_count"] < parts["cmcl"] + 1


def test_object_tags_are_a_segment_between_regions_and_caption(data_dir, tmp_path):
    d = pretrain_data.dictionary()
    names = [[d.index(str(1000 + 30 + k)), d.eos()] for k in range(pretrain_data.NUM_CLASSES)]  # one word each
    pretrain_data.write_tokens(str(tmp_path / "tags"), names, len(d))
    task, mix = make_task(data_dir, object_tags=str(tmp_path / "tags"), object_tag_threshold=0.3,
                          max_object_tags=3, modality_ratios="pair:1")
    pairs = mix.corpora["pair"]
    tag_words = {n[0] for n in names[1:]}  # class 0 is background
    seen = {"mlm": 0, "seq2seq": 0, "tagged": 0}
    for i in range(len(pairs)):
        s = pairs[i]
        tokens = s["tokens"].tolist()
        assert tokens[0] == d.bos()
        end = tokens.index(d.eos())
        tags = tokens[1:end]
        assert len(tags) <= 3 and set(tags) <= tag_words and len(set(tags)) == len(tags)
        probs = pairs.store[int(pairs.image_rows[i])].cls_probs
        best = probs[:, 1:].argmax(1) + 1  # each region's best foreground class
        confident = {names[c][0] for c, p in zip(best, probs[np.arange(len(best)), best]) if p >= 0.3}
        assert set(tags) <= confident and (len(tags) == 3 or set(tags) == confident)
        assert all(t == d.pad() for t in s["lm_targets"][: end + 1].tolist())  # tags are never predicted
        # a segment of their own: the caption (or the seq2seq target) restarts at the first position
        first = d.pad() + 1
        assert s["text_positions"].tolist() == list(range(first, first + end + 1)) \
            + list(range(first, first + len(tokens) - end - 1))
        if s["target_mask"].any():
            assert s["target_mask"].tolist() == [False] * (end + 1) + [True] * (len(tokens) - end - 1)
        else:
            assert tokens[end + 1] == d.bos() and tokens[-1] == d.eos()  # the caption keeps its <s>
        seen["seq2seq" if s["target_mask"].any() else "mlm"] += 1
        seen["tagged"] += bool(tags)
    assert seen["mlm"] and seen["seq2seq"] and seen["tagged"] > len(pairs) // 2
    # the criterion's joint pass embeds the text at those positions
    from unimo_plugin.criterions.unimo_pretrain import UnimoPretrainCriterion, UnimoPretrainCriterionConfig
    from unimo_plugin.testing.tiny_models import build_unimo

    batch = mix.collater([mix[i] for i in range(4)])
    model = build_unimo(task.source_dictionary, region_feature_dim=pretrain_data.FEATURE_DIM,
                        num_region_classes=pretrain_data.NUM_CLASSES, max_positions=256)
    seen_positions = []
    model.text_embeddings.register_forward_hook(lambda module, args, out: seen_positions.append(args[1]))
    UnimoPretrainCriterion(UnimoPretrainCriterionConfig(), task)(model, batch)
    assert torch.equal(seen_positions[0], batch["net_input"]["text_positions"])
    assert seen_positions[0].shape == batch["net_input"]["src_tokens"].shape

    pretrain_data.write_tokens(str(tmp_path / "few"), names[:2], len(d))
    with pytest.raises(ValueError, match="5 detector classes, the object tag names 2"):
        make_task(data_dir, object_tags=str(tmp_path / "few"))


def _steps(task, mix, num_shards, update_freq, seed, max_tokens=300):
    """Per worker, the corpus and draw positions of each micro-batch of an epoch, grouped by update."""
    task.cfg.update_freq = [update_freq]
    workers = []
    for shard in range(num_shards):
        itr = task.get_batch_iterator(dataset=mix, max_tokens=max_tokens, seed=seed, num_shards=num_shards,
                                      shard_id=shard, epoch=1).next_epoch_itr(shuffle=True)
        batches = [(b["modality"], tuple(int(i) for i in b["id"])) for b in itr]
        workers.append([batches[k:k + update_freq] for k in range(0, len(batches), update_freq)])
    return workers


@pytest.mark.parametrize("num_shards,update_freq", [(2, 1), (3, 1), (2, 2)])
def test_every_worker_holds_the_same_corpus_at_every_step(data_dir, num_shards, update_freq):
    task, mix = make_task(data_dir, modality_ratios="text:1,image:1,pair:2")
    for seed in range(1, 9):
        mix.set_epoch(1)
        workers = _steps(task, mix, num_shards, update_freq, seed)
        assert len({len(w) for w in workers}) == 1  # no worker runs out first (no dummy batches)
        for step in zip(*workers):
            assert len({modality for micro in step for modality, _ in micro}) == 1, step
            assert all(ids for micro in step for _, ids in micro)
        read = {i for w in workers for update in w for _, ids in update for i in ids}
        assert read == set(range(len(mix)))  # nothing of the draw is left out


def test_updates_depend_on_workers_times_update_freq_only(data_dir):
    """2 workers x update-freq 1 and 1 worker x update-freq 2 read the same batches at every update."""
    task, mix = make_task(data_dir, modality_ratios="text:1,image:1,pair:2")
    two_workers = _steps(task, mix, 2, 1, seed=4)
    one_worker = _steps(task, mix, 1, 2, seed=4)
    assert len(one_worker[0]) == len(two_workers[0])
    for k, update in enumerate(one_worker[0]):
        assert update == [two_workers[0][k][0], two_workers[1][k][0]]


@pytest.mark.parametrize("num_shards", [1, 2])
def test_validation_reads_every_sample_of_every_corpus_once(data_dir, num_shards):
    task, _ = make_task(data_dir, modality_ratios="text:1,image:1,pair:2")
    task.load_dataset("valid")
    mix = task.datasets["valid"]
    seen = []
    for shard in range(num_shards):
        itr = task.get_batch_iterator(dataset=mix, max_tokens=300, num_shards=num_shards, shard_id=shard)
        seen += [(b["modality"], mix._locate(int(i))[1]) for b in itr.next_epoch_itr(shuffle=False) if b
                 for i in b["id"]]
    for name, corpus in mix.corpora.items():
        assert sorted(i for modality, i in seen if modality == name) == list(range(len(corpus))), name


def test_upsampled_samples_are_masked_anew_each_time_they_are_drawn(data_dir):
    _, mix = make_task(data_dir, modality_ratios="text:1,image:8,pair:1")
    image = mix.names.index("image")
    positions = np.arange(mix.draw_offsets[image], mix.draw_offsets[image + 1])
    by_sample = {}
    for p in positions:
        by_sample.setdefault(int(mix.draw[p]), []).append(p)
    repeated = [ps for ps in by_sample.values() if len(ps) > 1]
    assert repeated and max(mix.repeat[ps].max() for ps in repeated) >= 3
    varied = [len({tuple(mix[p]["region_masked"].tolist()) for p in ps}) > 1 for ps in repeated]
    assert np.mean(varied) > 0.7  # a few regions can repeat a mask by chance, not every image


def test_pair_masked_lm_masks_words_or_regions_never_both(data_dir):
    task, mix = make_task(data_dir, modality_ratios="pair:1", seq2seq_prob=0.0)
    pad = task.source_dictionary.pad()
    kinds = []
    for p in range(len(mix)):
        s = mix[p]
        words, regions = bool(s["lm_targets"].ne(pad).any()), bool(s["region_masked"].any())
        assert words != regions, p
        kinds.append(words)
    assert 0.3 < np.mean(kinds) < 0.7  # both, about equally often
    _, text_only = make_task(data_dir, modality_ratios="pair:1", seq2seq_prob=0.0, region_mask_prob=0.0)
    assert all(text_only[p]["lm_targets"].ne(pad).any() for p in range(len(text_only)))


def test_batches_budget_what_the_passes_compute(data_dir, tmp_path):
    _, mix = make_task(data_dir, modality_ratios="text:1,image:1,pair:1")
    packed = mix._per_corpus("packed_tokens") + mix._per_corpus("packed_regions")
    joint = mix._per_corpus("batch_tokens") + mix._per_corpus("batch_regions") - packed
    assert packed[mix.draw_offsets[2]:].all() and not packed[:mix.draw_offsets[2]].any()  # CMCL's passes only
    for batch in mix.batch_by_size(mix.ordered_indices(), max_tokens=300):  # no --max-regions
        # the joint pass padded to its longest sample, CMCL's packed passes summed
        tokens = mix._per_corpus("batch_tokens")[batch] - mix._per_corpus("packed_tokens")[batch]
        regions = joint[batch] - tokens
        computed = len(batch) * (tokens.max() + regions.max()) + packed[batch].sum()
        assert computed <= 300 and joint[batch[0]] > 0


def test_pair_batches_compute_within_the_budgets(data_dir):
    """What a pair batch's passes compute, from the collated tensors: the joint pass's padded rows, the
    packed passes' distinct items (at most what the budget counted: the longest drawable items)."""
    task, mix = make_task(data_dir, modality_ratios="pair:1", cmcl_negatives=2, max_regions=120)
    pad = task.source_dictionary.pad()
    sizes = []
    for batch in mix.batch_by_size(mix.ordered_indices(), max_tokens=400, required_batch_size_multiple=2):
        sample = mix.collater([mix[int(p)] for p in batch])
        net, cmcl = sample["net_input"], sample["cmcl"]
        tokens = net["src_tokens"].numel() + int(cmcl.texts.ne(pad).sum())
        regions = net["regions"].shape[0] * (net["regions"].shape[1] + 1) + int((~cmcl.region_padding_mask).sum()) \
            + len(cmcl.regions)
        assert tokens <= 400 and regions <= 120
        sizes.append(len(batch))
    assert max(sizes) > 2 and sum(size % 2 for size in sizes) <= 1  # the corpus's last batch may be odd
    pairs = mix.corpora["pair"]
    negatives = pairs.sidecars["negatives"]
    for i in range(len(pairs)):  # sidecar texts at their own lengths: the k longest drawable ones
        lengths = sorted((min(len(t), pairs.max_caption_tokens) + 1 for t in negatives[i]), reverse=True)
        caption = min(len(pairs.captions[i]), pairs.max_caption_tokens) + 1
        others = sum(min(len(t), pairs.max_caption_tokens) + 1 for kind in ("paraphrases", "texts")
                     for t in pairs.sidecars[kind][i][: pairs.limits[kind]])
        assert pairs.batch_tokens[i] == pairs.sizes[i] + caption + sum(lengths[: pairs.limits["negatives"]]) + others


def test_cut_sidecar_texts_end_like_their_anchors(data_dir):
    task, mix = make_task(data_dir, modality_ratios="pair:1", max_caption_tokens=3)
    eos, bos = task.source_dictionary.eos(), task.source_dictionary.bos()
    pairs = mix.corpora["pair"]
    for i in range(4):
        items = pairs[i]["cmcl"]
        for tokens in [items["caption"]] + items["negatives"] + items["paraphrases"]:
            assert tokens[0] == bos and tokens[-1] == eos and len(tokens) <= 4


def test_object_tags_name_each_regions_best_foreground_class(tmp_path):
    d = pretrain_data.dictionary()
    names = [[d.index(str(1000 + k)), d.eos()] for k in range(4)]
    pretrain_data.write_tokens(str(tmp_path / "tags"), names, len(d))
    tagger = ObjectTagger(str(tmp_path / "tags"), d, threshold=0.2, max_tags=10)
    cls_probs = torch.tensor([[0.70, 0.05, 0.25, 0.00],   # background first, class 2 above the threshold
                              [0.50, 0.30, 0.00, 0.20],   # background first, class 1 confident
                              [0.85, 0.00, 0.05, 0.10],   # background first, no class confident enough
                              [0.10, 0.00, 0.15, 0.75]])  # class 3 first
    assert tagger(cls_probs).tolist() == [names[3][0], names[1][0], names[2][0]]  # most confident first
    assert tag_source(tagger, cls_probs).tolist() == [d.bos(), names[3][0], names[1][0], names[2][0], d.eos()]
    assert tag_source(None, cls_probs).tolist() == []
