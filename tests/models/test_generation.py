"""Cached incremental decoding through fairseq's own SequenceGenerator equals recomputing every step."""
import pytest
import torch
from fairseq import search
from fairseq.sequence_generator import SequenceGenerator

from unimo_plugin.testing.tiny_models import build_unimo, random_regions, random_text


def _sample(dictionary, with_text, with_regions, generator):
    net_input = {}
    if with_text:  # left-padded like fairseq's language-pair sources, lengths differ
        right = random_text(dictionary, [7, 4, 9], generator)
        net_input["src_tokens"] = torch.stack([
            torch.cat([row[row.eq(dictionary.pad())], row[row.ne(dictionary.pad())]]) for row in right])
    else:
        net_input["src_tokens"] = torch.zeros(3, 0, dtype=torch.long)
    if with_regions:
        regions, boxes = random_regions(3, 6, 12, generator)
        padding = torch.zeros(3, 6, dtype=torch.bool)
        padding[1, 4:] = True
        net_input.update(regions=regions, boxes=boxes, region_padding_mask=padding)
    return {"id": torch.arange(3), "net_input": net_input}


def _generate(model, dictionary, sample, cache, **options):
    model.cfg.decoding_cache = cache
    generator = SequenceGenerator([model], dictionary, max_len_b=12, **options)
    return generator.generate([model], sample)


@pytest.mark.parametrize("target_positions", ["restart", "continue"])
@pytest.mark.parametrize("beam", [1, 5])
@pytest.mark.parametrize("with_text,with_regions", [(False, True), (True, False), (True, True)])
def test_cached_decoding_equals_recomputing(dictionary, beam, with_text, with_regions, target_positions):
    model = build_unimo(dictionary, target_positions=target_positions).eval()
    with torch.no_grad():  # sharper than at init, and hypotheses end early so the batch shrinks
        for weight in (p for p in model.parameters() if p.dim() == 2):
            weight.mul_(4)
        model.lm_head.bias[dictionary.eos()] += 0.5
    generator = torch.Generator().manual_seed(4)
    sample = _sample(dictionary, with_text, with_regions, generator)
    with torch.no_grad():
        cached = _generate(model, dictionary, sample, True, beam_size=beam)
        recomputed = _generate(model, dictionary, sample, False, beam_size=beam)
    assert len({len(h["tokens"]) for hypos in cached for h in hypos}) > 1  # some end first: the batch shrinks
    for hypos_c, hypos_r in zip(cached, recomputed):
        assert len(hypos_c) == beam
        for c, r in zip(hypos_c, hypos_r):
            assert torch.equal(c["tokens"], r["tokens"])
            torch.testing.assert_close(c["positional_scores"], r["positional_scores"], atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(c["score"], r["score"], atol=1e-5, rtol=1e-5)


def test_generation_options_reach_the_model(dictionary):
    """Length limits, n-gram blocking and the length penalty apply through the cached decoder."""
    model = build_unimo(dictionary).eval()
    sample = _sample(dictionary, True, True, torch.Generator().manual_seed(2))
    with torch.no_grad():
        hypos = _generate(model, dictionary, sample, True, beam_size=4, min_len=5, max_len_a=0,
                          no_repeat_ngram_size=2, len_penalty=0.6)
    for per_sentence in hypos:
        tokens = per_sentence[0]["tokens"].tolist()
        assert 6 <= len(tokens) <= 13  # at least min_len words, then </s>
        bigrams = list(zip(tokens, tokens[1:]))
        assert len(bigrams) == len(set(bigrams))


def test_sampling_cached_equals_recomputing(dictionary):
    model = build_unimo(dictionary).eval()
    sample = _sample(dictionary, False, True, torch.Generator().manual_seed(3))
    runs = []
    for cache in (True, False):
        torch.manual_seed(7)
        with torch.no_grad():
            runs.append(_generate(model, dictionary, sample, cache, beam_size=3,
                                  search_strategy=search.Sampling(dictionary, sampling_topk=8)))
    for c, r in zip(*runs):
        assert [h["tokens"].tolist() for h in c] == [h["tokens"].tolist() for h in r]


def test_generating_past_the_text_positions_is_an_error(dictionary):
    """Continuing after the source, source and target together must fit the text positions (restarting,
    fairseq's own limit of the decoder's positions keeps a target within them)."""
    model = build_unimo(dictionary, max_positions=16, target_positions="continue").eval()
    sample = {"id": torch.arange(1), "net_input": {"src_tokens": random_text(dictionary, [12])}}
    with torch.no_grad(), pytest.raises(ValueError, match="text positions"):
        SequenceGenerator([model], dictionary, beam_size=2, min_len=10, max_len_b=10).generate([model], sample)


@pytest.mark.parametrize("mode", ["restart", "continue"])
def test_target_positions_restart_at_two_or_continue_after_the_source(dictionary, mode):
    model = build_unimo(dictionary, target_positions=mode).eval()
    seen = []
    model.text_embeddings.embed_positions.register_forward_hook(lambda module, args, output: seen.append(args[0]))
    source = random_text(dictionary, [5])
    previous = torch.tensor([[dictionary.bos(), 10, 11]])
    with torch.no_grad():
        model(source, prev_output_tokens=previous)
    positions = seen[0][0].tolist()
    assert positions[:5] == [2, 3, 4, 5, 6]
    assert positions[5:] == ([2, 3, 4] if mode == "restart" else [7, 8, 9])


def test_seq2seq_targets_end_and_decoders_start_as_the_release(dictionary):
    """The release's seq2seq reader: targets end with [MASK] (<mask>), the decoder starts from [CLS] (<s>)."""
    from unimo_plugin.data.finetune.seq2seq_pairs import Seq2seqPairDataset

    mask = dictionary.index("<mask>")
    sources = [torch.tensor([0, 10, 11, 2]), torch.tensor([0, 12, 2])]
    targets = [torch.tensor([13, 14, mask]), torch.tensor([15, mask])]
    dataset = Seq2seqPairDataset(sources, [4, 3], dictionary, targets, [3, 2], dictionary, shuffle=False,
                                 eos=mask, decoder_start=dictionary.bos())
    batch = dataset.collater([dataset[0], dataset[1]])
    pad = dictionary.pad()
    assert batch["target"].tolist() == [[13, 14, mask], [15, mask, pad]]
    assert batch["net_input"]["prev_output_tokens"].tolist() == [[0, 13, 14], [0, 15, pad]]
    fairseqs = Seq2seqPairDataset(sources, [4, 3], dictionary, [t[:-1].tolist() + [2] for t in targets], [3, 2],
                                  dictionary, shuffle=False)
    fairseqs.tgt = [torch.tensor(t) for t in fairseqs.tgt]
    assert fairseqs.collater([fairseqs[0]])["net_input"]["prev_output_tokens"].tolist() == [[2, 13, 14]]
