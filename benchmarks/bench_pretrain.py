"""Pretraining step throughput: fairseq RoBERTa masked LM vs unimo masked LM vs the full UNIMO objective,
and the data loader alone.

All three train steps see the same image-text batches of a synthetic corpus (2048-d regions, CMCL
sidecars with K hard negatives) built with the project's own writers:

  (a) fairseq's RobertaModel + masked_lm loss on the captions' tokens (its own masking of the same batch)
  (b) unimo, masked LM only, on the same caption tokens (text-only input)
  (c) unimo, the full objective: joint image-text pass (masked LM / seq2seq + masked regions) + CMCL
      (every image and text encoded alone, K hard negatives per pair)
  (c') as (c) without CMCL, which gives CMCL's share of (c)

Steps are timed in alternating rounds in one process. The loader (fairseq's EpochBatchIterator over
unimo_pretrain's datasets, as fairseq-train runs it) must deliver >= 5x the samples/s (c) consumes.

    python benchmarks/bench_pretrain.py [--layers 12 --dim 768 --pairs-per-batch 8 --regions 36 --negatives 4]
"""
import argparse
import os
import statistics
import sys
import tempfile
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--layers", type=int, default=12, help="transformer layers (unimo_base: 12)")
    p.add_argument("--dim", type=int, default=768, help="hidden size (unimo_base: 768); FFN 4x, heads dim/64")
    p.add_argument("--pairs-per-batch", type=int, default=8, help="image-text pairs per batch")
    p.add_argument("--regions", type=int, default=36, help="regions per image")
    p.add_argument("--negatives", type=int, default=4, help="K hard negatives per pair (CMCL)")
    p.add_argument("--caption-words", type=int, default=14, help="words per caption")
    p.add_argument("--rounds", type=int, default=3, help="timed rounds (after one warm-up)")
    p.add_argument("--loader-batches", type=int, default=40, help="batches the loader is timed on")
    p.add_argument("--num-workers", type=int, default=0, help="loader worker processes (fairseq --num-workers)")
    return p.parse_args(argv)


def setup(args, root):
    import unimo_plugin  # noqa: F401
    from unimo_plugin.criterions.unimo_pretrain import UnimoPretrainCriterion, UnimoPretrainCriterionConfig
    from unimo_plugin.models.unimo import UnimoConfig, UnimoModel
    from unimo_plugin.tasks.unimo_pretrain import UnimoPretrainConfig, UnimoPretrainTask
    from unimo_plugin.testing import synthetic_corpora

    d = synthetic_corpora.dictionary(2000)
    synthetic_corpora.build(root, d, num_images=200, captions_per_image=2, feature_dim=2048, num_classes=1601,
                            regions=(args.regions, args.regions + 1), num_negatives=args.negatives,
                            caption_words=args.caption_words, dtype="float16")
    tasks = {}
    for cmcl in (True, False):
        cfg = UnimoPretrainConfig(data=root, seed=1, modality_ratios="pair:1", cmcl=cmcl, cmcl_negatives=args.negatives,
                                  max_regions_per_image=args.regions, train_subset="train", update_freq=[1])
        tasks[cmcl] = UnimoPretrainTask.setup_task(cfg)
        tasks[cmcl].load_dataset("train")
    task = tasks[True]
    dims = dict(encoder_layers=args.layers, encoder_embed_dim=args.dim, encoder_ffn_embed_dim=4 * args.dim,
                encoder_attention_heads=max(1, args.dim // 64))
    unimo = UnimoModel.build_model(UnimoConfig(**dims, region_feature_dim=2048), task).train()
    criterion = UnimoPretrainCriterion(UnimoPretrainCriterionConfig(), task)
    return task, tasks[False], unimo, criterion, dims


def build_roberta(task, dims):
    from fairseq.models.roberta import RobertaModel, roberta_base_architecture

    ns = argparse.Namespace(**dims, max_positions=512)
    roberta_base_architecture(ns)
    return RobertaModel.build_model(ns, task).train()


def first_batches(task, n, pairs):
    dataset = task.datasets["train"]
    itr = task.get_batch_iterator(dataset, max_sentences=pairs, seed=1, epoch=1).next_epoch_itr(shuffle=False)
    return [batch for _, batch in zip(range(n), itr)]


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main(argv=None):
    args = parse_args(argv)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as root:
        task, task_no_cmcl, unimo, criterion, dims = setup(args, root)
        roberta = build_roberta(task, dims)
        batches = first_batches(task, args.rounds + 1, args.pairs_per_batch)
        plain = first_batches(task_no_cmcl, args.rounds + 1, args.pairs_per_batch)
        pad = task.source_dictionary.pad()

        def mlm_step(model, batch):
            targets = batch["lm_targets"]
            masked = targets.ne(pad) & ~batch["is_seq2seq"][:, None]
            masked[:, 1] |= ~masked.any(1)  # seq2seq samples: still predict one token
            gold = torch.where(masked, batch["net_input"]["src_tokens"], targets)[masked]
            logits = model(batch["net_input"]["src_tokens"], masked_tokens=masked)[0]
            torch.nn.functional.cross_entropy(logits.float(), gold).backward()
            model.zero_grad(set_to_none=True)

        def full_step(batch):
            loss, _, _ = criterion(unimo, batch)
            loss.backward()
            unimo.zero_grad(set_to_none=True)

        steps = {
            "(a) fairseq roberta MLM": lambda i: mlm_step(roberta, batches[i]),
            "(b) unimo MLM only": lambda i: mlm_step(unimo, batches[i]),
            "(c) unimo full objective": lambda i: full_step(batches[i]),
            "(c') unimo without CMCL": lambda i: full_step(plain[i]),
        }
        times = {name: [] for name in steps}
        for name, step in steps.items():
            step(0)  # warm-up
        for r in range(1, args.rounds + 1):
            order = list(steps) if r % 2 else list(reversed(steps))
            for name in order:
                times[name].append(timed(lambda: steps[name](r)))

        dataset = task.datasets["train"]
        itr = task.get_batch_iterator(dataset, max_sentences=args.pairs_per_batch, seed=1, epoch=1,
                                      num_workers=args.num_workers).next_epoch_itr(shuffle=True)
        start, samples = time.perf_counter(), 0
        for _, batch in zip(range(args.loader_batches), itr):
            samples += batch["nsentences"]
        loader_rate = samples / (time.perf_counter() - start)

    pairs = args.pairs_per_batch
    rate = {name: pairs / statistics.median(t) for name, t in times.items()}
    print(f"layers={args.layers} dim={args.dim} pairs/batch={pairs} regions/image={args.regions} "
          f"K negatives={args.negatives} threads={torch.get_num_threads()}")
    print(f"{'step':<30}{'samples/s':>12}{'vs (a)':>10}")
    for name, value in rate.items():
        print(f"{name:<30}{value:>12.2f}{value / rate['(a) fairseq roberta MLM']:>10.2f}")
    full, no_cmcl = rate["(c) unimo full objective"], rate["(c') unimo without CMCL"]
    print(f"time share in (c): joint pass + MLM/seq2seq/MRM heads {100 * full / no_cmcl:.0f}%, "
          f"CMCL passes {100 * (1 - full / no_cmcl):.0f}%")
    print(f"loader alone: {loader_rate:.1f} samples/s (num_workers={args.num_workers}) = "
          f"{loader_rate / full:.1f}x what (c) consumes (target >= 5x)")


if __name__ == "__main__":
    main()
