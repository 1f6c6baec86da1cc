#!/usr/bin/env python
"""Beam-search speed through fairseq's own SequenceGenerator: UNIMO with its key/value cache, UNIMO
recomputing the whole sequence each step, and fairseq's transformer of equal depth and width.

Every hypothesis is forced to exactly ``--target-len`` tokens (min = max length), so the three
decode the same number of steps. Sources: ``--regions`` image regions (captioning; the transformer
reads as many source tokens) or ``--source-len`` text tokens (``--mode text``). Runs alternate, and
the ratios of median times are printed (this machine is shared: absolute times drift).

    python benchmarks/bench_generate.py                    # captioning: 100 regions
    python benchmarks/bench_generate.py --mode text        # summarization: 400 source tokens
"""
import argparse
import statistics
import time
from argparse import Namespace

import torch
from fairseq.data import Dictionary
from fairseq.models.transformer import TransformerModel
from fairseq.models.transformer.transformer_legacy import base_architecture
from fairseq.sequence_generator import SequenceGenerator

import unimo_plugin  # noqa: F401
from unimo_plugin.models.unimo import UnimoConfig, UnimoModel


class _Task:
    def __init__(self, dictionary):
        self.source_dictionary = self.target_dictionary = dictionary


def dictionary(size):
    d = Dictionary()
    for i in range(size - d.nspecial - 1):
        d.add_symbol(str(i))
    d.add_symbol("<mask>")
    return d


def build_unimo(args, d):
    cfg = UnimoConfig(encoder_layers=args.layers, encoder_embed_dim=args.dim, encoder_ffn_embed_dim=4 * args.dim,
                      encoder_attention_heads=args.heads, max_positions=512, region_feature_dim=args.feature_dim)
    return UnimoModel.build_model(cfg, _Task(d)).eval()


def build_transformer(args, d):
    targs = Namespace(encoder_layers=args.layers, decoder_layers=args.layers, encoder_embed_dim=args.dim,
                      decoder_embed_dim=args.dim, encoder_ffn_embed_dim=4 * args.dim,
                      decoder_ffn_embed_dim=4 * args.dim, encoder_attention_heads=args.heads,
                      decoder_attention_heads=args.heads, share_all_embeddings=True,
                      max_source_positions=1024, max_target_positions=1024)
    base_architecture(targs)
    return TransformerModel.build_model(targs, _Task(d)).eval()


def samples(args, d):
    g = torch.Generator().manual_seed(0)
    words = lambda n: torch.randint(d.nspecial, len(d) - 1, (args.sentences, n), generator=g)  # noqa: E731
    eos = torch.full((args.sentences, 1), d.eos())
    if args.mode == "caption":
        corners = torch.rand(args.sentences, args.regions, 2, 2, generator=g).sort(dim=2).values
        boxes = torch.cat([corners[:, :, 0], corners[:, :, 1], torch.rand(args.sentences, args.regions, 1)], -1)
        unimo = {"src_tokens": torch.zeros(args.sentences, 0, dtype=torch.long),
                 "regions": torch.randn(args.sentences, args.regions, args.feature_dim, generator=g), "boxes": boxes}
        source_len = args.regions + 1
    else:
        text = torch.cat([torch.full((args.sentences, 1), d.bos()), words(args.source_len - 2), eos], 1)
        unimo, source_len = {"src_tokens": text}, args.source_len
    tokens = torch.cat([words(source_len - 1), eos], 1)
    transformer = {"src_tokens": tokens, "src_lengths": torch.full((args.sentences,), source_len)}
    return {"net_input": unimo}, {"net_input": transformer}


def timed(model, d, sample, args):
    generator = SequenceGenerator([model], d, beam_size=args.beam, min_len=args.target_len, max_len_a=0,
                                  max_len_b=args.target_len)
    start = time.perf_counter()
    with torch.no_grad():
        hypos = generator.generate([model], sample)
    elapsed = time.perf_counter() - start
    assert all(len(h[0]["tokens"]) == args.target_len + 1 for h in hypos)  # + </s>
    return elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=["caption", "text"], default="caption")
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--vocab", type=int, default=50265, help="RoBERTa's dictionary size")
    parser.add_argument("--feature-dim", type=int, default=2048)
    parser.add_argument("--regions", type=int, default=100)
    parser.add_argument("--source-len", type=int, default=400)
    parser.add_argument("--target-len", type=int, default=20)
    parser.add_argument("--beam", type=int, default=5)
    parser.add_argument("--sentences", type=int, default=4, help="sentences per batch")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    d = dictionary(args.vocab)
    unimo, transformer = build_unimo(args, d), build_transformer(args, d)
    unimo_sample, transformer_sample = samples(args, d)

    def run_unimo(cache):
        unimo.cfg.decoding_cache = cache
        return timed(unimo, d, unimo_sample, args)

    runs = {"unimo cached": lambda: run_unimo(True), "unimo uncached": lambda: run_unimo(False),
            "fairseq transformer": lambda: timed(transformer, d, transformer_sample, args)}
    for run in runs.values():  # warm-up
        run()
    times = {name: [] for name in runs}
    for _ in range(args.repeats):
        for name, run in runs.items():
            times[name].append(run())
    median = {name: statistics.median(t) for name, t in times.items()}
    source = f"{args.regions} regions" if args.mode == "caption" else f"{args.source_len} source tokens"
    print(f"mode={args.mode} ({source}) layers={args.layers} dim={args.dim} vocab={args.vocab} beam={args.beam} "
          f"target={args.target_len} tokens, {args.sentences} sentences/batch, threads={torch.get_num_threads()}, "
          f"median of {args.repeats}")
    for name, seconds in median.items():
        print(f"  {name:20s} {args.sentences / seconds:8.2f} sentences/s")
    print(f"cached vs uncached speed-up: {median['unimo uncached'] / median['unimo cached']:.2f}x (target >= 3)")
    print(f"unimo cached time / fairseq transformer time: "
          f"{median['unimo cached'] / median['fairseq transformer']:.2f} (target <= 1.3)")


if __name__ == "__main__":
    main()
