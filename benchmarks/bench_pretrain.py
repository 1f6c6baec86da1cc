"""Pretraining step throughput in FLOP/s: fairseq RoBERTa masked LM vs unimo masked LM vs the full UNIMO
objective, the share of computed FLOPs spent on padding, and the data loader alone.

All steps see the same image-text batches of a synthetic corpus (2048-d regions, captions of varied
length, CMCL sidecars with K hard negatives) built with the project's own writers, batched as the task
batches them (pair batches are random draws of the pairs, as CMCL needs them):

  (a) fairseq's RobertaModel + masked LM loss on the captions' tokens (the batch's own masking)
  (b) unimo, masked LM only, on the same caption tokens (text-only input)
  (c) unimo, the full objective: joint image-text pass (masked LM / seq2seq + masked regions) + CMCL
      (every distinct image and text encoded alone, K hard negatives per pair)
  (c') as (c) without CMCL, which gives CMCL's share of (c)
  with --compare-padded, also (c0): (c) with CMCL's passes as they were before packing (one pass over
      every image padded to the most regions, one over every text padded to the longest, duplicates
      encoded again), for a before/after ratio measured side by side

FLOPs are counted analytically per batch (unimo_plugin/models/flops.py): "model" FLOPs are those the
step needs (real tokens and regions, each distinct item once); "computed" FLOPs include padding and
duplicates. FLOP/s = model FLOPs / time. Steps are timed in alternating rounds in one process. The
loader (fairseq's EpochBatchIterator over unimo_pretrain's datasets, as fairseq-train runs it) must
deliver >= 5x the samples/s (c) consumes.

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

TARGET_RATIO, TARGET_PADDING = 0.9, 0.15  # the targets: (c) >= 0.9x (a) in FLOP/s, padding <= 15%


def word_range(value):
    lo, _, hi = value.partition("-")
    return (int(lo), int(hi or lo))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--layers", type=int, default=12, help="transformer layers (unimo_base: 12)")
    p.add_argument("--dim", type=int, default=768, help="hidden size (unimo_base: 768); FFN 4x, heads dim/64")
    p.add_argument("--pairs-per-batch", type=int, default=8, help="image-text pairs per batch")
    p.add_argument("--regions", type=int, default=36, help="regions per image")
    p.add_argument("--negatives", type=int, default=4, help="K hard negatives per pair (CMCL)")
    p.add_argument("--caption-words", type=word_range, default=(6, 18),
                   help="random words per caption, LO-HI (a caption is 2 fixed words + these + </s>)")
    p.add_argument("--rounds", type=int, default=3, help="timed rounds (after one warm-up)")
    p.add_argument("--loader-batches", type=int, default=40, help="batches the loader is timed on")
    p.add_argument("--num-workers", type=int, default=0, help="loader worker processes (fairseq --num-workers)")
    p.add_argument("--compare-padded", action="store_true",
                   help="also time (c0): CMCL's passes as before packing (padded, duplicates encoded again)")
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
    """``n`` batches as training reads them: random draws of the pairs (see ModalityMixDataset.ordered_indices)."""
    dataset = task.datasets["train"]
    itr = task.get_batch_iterator(dataset, max_sentences=pairs, seed=1, epoch=1).next_epoch_itr(shuffle=True)
    return [batch for _, batch in zip(range(n), itr)]


def padded_single_modal_passes(self, batch):
    """CMCL's passes as they were before packing: one padded pass per modality, duplicates included."""
    image = self.extract_features(regions=batch.regions, boxes=batch.boxes,
                                  region_padding_mask=batch.region_padding_mask)[1]
    text = self.extract_features(batch.texts)[0]
    return {"cmcl_image": self.pooled_image(image), "cmcl_text": self.pooled_text(text),
            "cmcl_temperature": self.cmcl_temperature()}


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def mlm_selection(batch, pad):
    """The positions the MLM steps (a) and (b) predict: the batch's masked words (one per seq2seq sample)."""
    targets = batch["lm_targets"]
    masked = targets.ne(pad) & ~batch["is_seq2seq"][:, None]
    masked[:, 1] |= ~masked.any(1)  # seq2seq samples: still predict one token
    return masked


def main(argv=None):
    from unimo_plugin.models import flops as F
    from unimo_plugin.models.unimo import UnimoModel

    args = parse_args(argv)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as root:
        task, task_no_cmcl, unimo, criterion, dims = setup(args, root)
        roberta = build_roberta(task, dims)
        batches = first_batches(task, args.rounds + 1, args.pairs_per_batch)
        plain = first_batches(task_no_cmcl, args.rounds + 1, args.pairs_per_batch)
        pad = task.source_dictionary.pad()
        size = F.Dims.of(unimo.cfg, len(task.source_dictionary))
        packed_passes = UnimoModel._single_modal_passes

        def mlm_step(model, batch):
            masked = mlm_selection(batch, pad)
            gold = torch.where(masked, batch["net_input"]["src_tokens"], batch["lm_targets"])[masked]
            logits = model(batch["net_input"]["src_tokens"], masked_tokens=masked)[0]
            torch.nn.functional.cross_entropy(logits.float(), gold).backward()
            model.zero_grad(set_to_none=True)

        def full_step(batch, passes=packed_passes):
            UnimoModel._single_modal_passes = passes
            try:
                loss, _, _ = criterion(unimo, batch)
                loss.backward()
            finally:
                UnimoModel._single_modal_passes = packed_passes
            unimo.zero_grad(set_to_none=True)

        def mlm_flops(batch):
            tokens = batch["net_input"]["src_tokens"]
            return F.text_mlm_step(size, tokens, pad, int(mlm_selection(batch, pad).sum()))

        steps = {
            "(a) fairseq roberta MLM": (lambda i: mlm_step(roberta, batches[i]), lambda i: mlm_flops(batches[i])),
            "(b) unimo MLM only": (lambda i: mlm_step(unimo, batches[i]), lambda i: mlm_flops(batches[i])),
            "(c) unimo full objective": (lambda i: full_step(batches[i]),
                                         lambda i: F.unimo_pretrain_step(size, batches[i], pad)),
            "(c') unimo without CMCL": (lambda i: full_step(plain[i]), lambda i: F.unimo_pretrain_step(size, plain[i], pad)),
        }
        if args.compare_padded:
            steps["(c0) full, padded CMCL passes"] = (
                lambda i: full_step(batches[i], padded_single_modal_passes),
                lambda i: F.unimo_pretrain_step(size, batches[i], pad, layout="padded"))
        times = {name: [] for name in steps}
        counted = {name: [count(r) for r in range(1, args.rounds + 1)] for name, (_, count) in steps.items()}
        for name, (step, _) in steps.items():
            step(0)  # warm-up
        for r in range(1, args.rounds + 1):
            order = list(steps) if r % 2 else list(reversed(steps))
            for name in order:
                times[name].append(timed(lambda: steps[name][0](r)))

        dataset = task.datasets["train"]
        itr = task.get_batch_iterator(dataset, max_sentences=args.pairs_per_batch, seed=1, epoch=1,
                                      num_workers=args.num_workers).next_epoch_itr(shuffle=True)
        start, samples = time.perf_counter(), 0
        for _, batch in zip(range(args.loader_batches), itr):
            samples += batch["nsentences"]
        loader_rate = samples / (time.perf_counter() - start)

    pairs = [b["nsentences"] for b in batches[1:]]
    print(f"layers={args.layers} dim={args.dim} pairs/batch={args.pairs_per_batch} regions/image={args.regions} "
          f"caption words={args.caption_words[0]}-{args.caption_words[1]} K negatives={args.negatives} "
          f"threads={torch.get_num_threads()}")
    print(f"{'step':<32}{'samples/s':>10}{'model GFLOP/step':>18}{'GFLOP/s':>10}{'vs (a)':>8}"
          f"{'computed GFLOP/s':>18}{'padding':>9}")
    rate, flops_rate = {}, {}
    for name in steps:
        seconds = sum(times[name])
        total = sum(counted[name], F.StepFlops())
        rate[name] = sum(pairs) / seconds
        flops_rate[name] = total.total.model / seconds
        reference = flops_rate["(a) fairseq roberta MLM"]
        print(f"{name:<32}{rate[name]:>10.2f}{total.total.model / len(pairs) / 1e9:>18.1f}"
              f"{flops_rate[name] / 1e9:>10.1f}{flops_rate[name] / reference:>8.2f}"
              f"{total.total.computed / seconds / 1e9:>18.1f}{100 * total.padding_share:>8.1f}%")
    full = sum(counted["(c) unimo full objective"], F.StepFlops())
    parts = ", ".join(f"{part} {100 * flops.computed / full.total.computed:.0f}%" for part, flops in full.parts.items())
    print(f"computed FLOPs of (c) by part: {parts}; padding {100 * full.padding_share:.1f}% "
          f"(target <= {100 * TARGET_PADDING:.0f}%), duplicates {100 * full.duplicates / full.total.computed:.1f}%")
    ratio = flops_rate["(c) unimo full objective"] / flops_rate["(a) fairseq roberta MLM"]
    print(f"FLOP/s ratio (c)/(a) = {ratio:.2f} (target >= {TARGET_RATIO}); "
          f"(b)/(a) = {flops_rate['(b) unimo MLM only'] / flops_rate['(a) fairseq roberta MLM']:.2f}")
    if args.compare_padded:
        print(f"packed vs padded CMCL passes: (c) takes {statistics.median(times['(c) unimo full objective']) / statistics.median(times['(c0) full, padded CMCL passes']):.2f}x the time of (c0)")
    share = rate["(c) unimo full objective"] / rate["(c') unimo without CMCL"]
    print(f"time share in (c): joint pass + MLM/seq2seq/MRM heads {100 * share:.0f}%, CMCL passes {100 * (1 - share):.0f}%")
    print(f"loader alone: {loader_rate:.1f} samples/s (num_workers={args.num_workers}) = "
          f"{loader_rate / rate['(c) unimo full objective']:.1f}x what (c) consumes (target >= 5x)")


if __name__ == "__main__":
    main()
