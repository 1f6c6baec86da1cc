"""GPU figures for docs/benchmarks.md: updates/s, tokens+regions/s, peak memory and MFU of pretraining
steps run by fairseq's own Trainer (the object fairseq-train and fairseq-hydra-train drive), for

- unimo_base with 36 and 100 regions per image, in bf16 and in fp16: every objective, on text, image
  and image-text batches mixed as the unimo_base config mixes them (text:1, image:1, pair:2), its
  budgets (--max-tokens 16384, --max-regions 20000 per GPU);
- fairseq's roberta_base (task masked_lm, 512-token blocks, --max-tokens 16384), bf16 and fp16;
- unimo_large with --checkpoint-activations at 100 regions, bf16, on image-text batches: the largest
  batch (in pairs) that fits, and its MFU.

MFU = model FLOPs per second / the GPU's dense bf16/fp16 peak (stated in the output; set PEAK_TFLOPS
for a GPU the table below lacks). Model FLOPs are counted per batch by unimo_plugin/models/flops.py
(real tokens and regions, each distinct CMCL item once; recomputation under --checkpoint-activations
not counted). Batches are collated beforehand, so the figures are those of the training step (with
fairseq's per-step logging and its host syncs), not of the data loader.

bf16 runs as fairseq-hydra-train's ``common.bf16=true common.tpu=false`` runs it: the command line is
parsed as fairseq-train parses it, then ``tpu`` is set back to False (fairseq-train's --bf16 sets it).

    python benchmarks/gpu_bench.py --work /tmp/gpu_bench           # on a GPU, about 3 minutes
    python benchmarks/gpu_bench.py --work /tmp/dry --device cpu --tiny   # the same code on tiny sizes
"""
import argparse
import gc
import logging
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# dense (no sparsity) bf16/fp16 tensor-core peaks, TFLOP/s, from the vendors' data sheets
PEAKS = (("H200", 989.4), ("H100 SXM", 989.4), ("H100 NVL", 835.5), ("H100 PCIe", 756.0), ("H100", 989.4),
         ("GH200", 989.4), ("A100", 312.0), ("L40S", 362.1), ("L40", 181.0), ("L4", 121.0), ("A10", 125.0),
         ("V100", 125.0), ("B200", 2250.0))

TINY = ["--encoder-layers", "2", "--encoder-embed-dim", "64", "--encoder-ffn-embed-dim", "128",
        "--encoder-attention-heads", "2", "--max-tokens", "2048"]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", required=True, help="directory for the synthetic data (reused if present)")
    p.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    p.add_argument("--tiny", action="store_true", help="tiny models and data: checks the script, measures nothing")
    p.add_argument("--warmup", type=int, default=5, help="updates before timing")
    p.add_argument("--updates", type=int, default=20, help="timed updates per configuration")
    p.add_argument("--only", nargs="*", default=None,
                   help="run only these parts: unimo_base roberta_base unimo_large (default: all)")
    p.add_argument("--precisions", nargs="*", default=["bf16", "fp16"])
    p.add_argument("--regions", nargs="*", type=int, default=[36, 100])
    p.add_argument("--largest-from", type=int, default=64, help="first batch (pairs) of the unimo_large search")
    p.add_argument("--search-seconds", type=float, default=150.0, help="time budget of the unimo_large search")
    return p.parse_args(argv)


def peak_tflops(device):
    if "PEAK_TFLOPS" in os.environ:
        return float(os.environ["PEAK_TFLOPS"]), "PEAK_TFLOPS"
    if device != "cuda":
        return None, "no peak for a CPU"
    name = torch.cuda.get_device_name()
    for key, value in PEAKS:
        if key.lower() in name.lower():
            return value, name
    return None, name


def build_data(work, regions, tiny):
    """Synthetic corpora with ``regions`` regions per image (2048-d), a 50k vocabulary (RoBERTa's size),
    captions of 6-18 words, CMCL sidecars with 4 hard negatives; and fairseq masked_lm's view of the
    text corpus. Reused when present."""
    from unimo_plugin.testing import synthetic_corpora

    root = os.path.join(work, f"data{regions}")
    if not os.path.exists(os.path.join(root, "pairs", "train.bin")):
        d = synthetic_corpora.dictionary(2000 if tiny else 50000)
        synthetic_corpora.build(root, d, num_images=48 if tiny else 600, captions_per_image=5,
                                feature_dim=64 if tiny else 2048, num_classes=1601, regions=(regions, regions + 1),
                                num_negatives=4, caption_words=(6, 18), dtype="float16",
                                text_lines=400 if tiny else 60000)
    text = os.path.join(root, "masked_lm")
    os.makedirs(text, exist_ok=True)
    for name in ("dict.txt", "text/train.bin", "text/train.idx", "text/valid.bin", "text/valid.idx"):
        link = os.path.join(text, os.path.basename(name))
        if not os.path.exists(link):
            os.symlink(os.path.join(root, name), link)
    return root


def unimo_argv(data, arch, precision, tiny, *extra):
    return [data, "--user-dir", os.path.join(REPO, "unimo_plugin"), "--task", "unimo_pretrain", "--arch", arch,
            "--criterion", "unimo_pretrain", "--region-feature-dim", "64" if tiny else "2048",
            "--num-region-classes", "1601", "--modality-ratios", "text:1,image:1,pair:2", "--tokens-per-sample",
            "512", "--max-regions-per-image", "100", "--cmcl-negatives", "4", "--max-tokens", "16384",
            "--max-regions", "20000", "--optimizer", "adam", "--adam-betas", "(0.9,0.98)", "--lr", "5e-5",
            "--lr-scheduler", "polynomial_decay", "--warmup-updates", "10", "--total-num-update", "1000",
            "--clip-norm", "1.0", "--seed", "1", f"--{precision}", *(TINY + ["--max-regions", "1000"] if tiny else []), *extra]


def roberta_argv(data, precision, tiny):
    return [os.path.join(data, "masked_lm"), "--task", "masked_lm", "--arch", "roberta_base", "--criterion",
            "masked_lm", "--sample-break-mode", "complete", "--tokens-per-sample", "512", "--max-tokens", "16384",
            "--optimizer", "adam", "--adam-betas", "(0.9,0.98)", "--lr", "5e-5", "--lr-scheduler", "polynomial_decay",
            "--warmup-updates", "10", "--total-num-update", "1000", "--clip-norm", "1.0", "--seed", "1",
            f"--{precision}", *(TINY if tiny else [])]


def make_trainer(argv, device):
    """fairseq's Trainer for a fairseq-train command line (bf16 as fairseq-hydra-train keeps it: no TPU)."""
    from fairseq import options, tasks, utils
    from fairseq.dataclass.utils import convert_namespace_to_omegaconf
    from fairseq.trainer import Trainer

    if device == "cpu":
        argv = argv + ["--cpu", "--fp16-no-flatten-grads"]  # fairseq's flat fp32 copy wants a CUDA device
    args = options.parse_args_and_arch(options.get_training_parser(), argv)
    args.tpu = False
    cfg = convert_namespace_to_omegaconf(args)
    utils.import_user_module(cfg.common)
    np.random.seed(cfg.common.seed)
    torch.manual_seed(cfg.common.seed)
    task = tasks.setup_task(cfg.task)
    task.load_dataset("train", combine=False, epoch=1)
    model = task.build_model(cfg.model)
    criterion = task.build_criterion(cfg.criterion)
    return cfg, task, model, Trainer(cfg, task, model, criterion)


def batches_of(cfg, task, model, count, max_sentences=None, modalities=None, workers=0):
    """``count`` training batches, collated by ``workers`` loader processes (epochs repeat when one is
    shorter); with ``max_sentences``, only batches of exactly that many samples."""
    from fairseq import utils

    out, epoch = [], 1
    while len(out) < count:
        dataset = task.dataset("train")
        if hasattr(dataset, "set_epoch"):
            dataset.set_epoch(epoch)
        itr = task.get_batch_iterator(
            dataset=dataset, max_tokens=cfg.dataset.max_tokens if max_sentences is None else None,
            max_sentences=max_sentences, max_positions=utils.resolve_max_positions(task.max_positions(),
                                                                                   model.max_positions()),
            required_batch_size_multiple=8, seed=1, epoch=epoch, ignore_invalid_inputs=True,
            num_workers=workers).next_epoch_itr(shuffle=True)
        for batch in itr:
            if (modalities is None or batch.get("modality") in modalities) and \
                    (max_sentences is None or batch["nsentences"] == max_sentences):
                out.append(batch)
        epoch += 1
        if epoch > 20 and not out:
            return out
    return out[:count]


def loader_workers(args):
    """Loader processes collating the batches: none for the tiny check (process start-up would dominate)."""
    return 0 if args.tiny else min(8, os.cpu_count() or 1)


def counts(batch, flops_fn, pad):
    """(model FLOPs, computed FLOPs, input tokens + regions) of one batch."""
    net = batch["net_input"]
    inputs = int(net["src_tokens"].ne(pad).sum()) if "src_tokens" in net else 0
    if net.get("regions") is not None:
        mask = net.get("region_padding_mask")
        inputs += int((~mask).sum()) if mask is not None else net["regions"].shape[0] * net["regions"].shape[1]
    step = flops_fn(batch)
    return step.total.model, step.total.computed, inputs


def synchronize(device):
    if device == "cuda":
        torch.cuda.synchronize()


def measure(trainer, batches, flops_fn, pad, warmup, device):
    """Train on ``batches`` (the first ``warmup`` untimed): updates/s, tokens+regions/s, model FLOP/s,
    padding share, peak memory (MiB); None if a step ran out of memory."""
    counted = [counts(b, flops_fn, pad) for b in batches[warmup:]]
    for batch in batches[:warmup]:
        if trainer.train_step([batch]) is None:
            return None
    synchronize(device)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for batch in batches[warmup:]:
        if trainer.train_step([batch]) is None:
            return None
    synchronize(device)
    seconds = time.perf_counter() - start
    model, computed, inputs = (sum(c[i] for c in counted) for i in range(3))
    steps = len(batches) - warmup
    peak = torch.cuda.max_memory_allocated() / 2 ** 20 if device == "cuda" else float("nan")
    return {"updates/s": steps / seconds, "tokens+regions/s": inputs / seconds, "model TFLOP/s": model / seconds / 1e12,
            "padding": 1 - model / computed, "peak MiB": peak, "GFLOP/update": model / steps / 1e9,
            "batch": sum(b["nsentences"] for b in batches[warmup:]) / steps}


def release(*objects):
    del objects
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def report(name, result, peak):
    if result is None:
        print(f"{name:<34} out of memory", flush=True)
        return
    mfu = f"{100 * result['model TFLOP/s'] / peak:5.1f}%" if peak else "  n/a"
    memory = "n/a" if np.isnan(result["peak MiB"]) else f"{result['peak MiB']:.0f}"
    print(f"{name:<34}{result['updates/s']:>9.2f}{result['tokens+regions/s']:>14.0f}{result['batch']:>9.1f}"
          f"{result['GFLOP/update']:>12.0f}{result['model TFLOP/s']:>9.1f}{mfu:>7}{100 * result['padding']:>8.1f}%"
          f"{memory:>10}", flush=True)


def main(argv=None):
    import unimo_plugin  # noqa: F401
    from unimo_plugin.models import flops as F

    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, force=True)  # fairseq's and hydra's INFO/DEBUG lines: not figures
    only = set(args.only or ("unimo_base", "roberta_base", "unimo_large"))
    if args.tiny:
        args.warmup, args.updates, args.largest_from = min(args.warmup, 1), min(args.updates, 2), 8
    peak, gpu = peak_tflops(args.device)
    print(f"device: {gpu}; dense bf16/fp16 peak: {f'{peak:.1f} TFLOP/s' if peak else 'unknown (set PEAK_TFLOPS)'}; "
          f"torch {torch.__version__}", flush=True)
    print(f"{'configuration':<34}{'updates/s':>9}{'tok+reg/s':>14}{'samples':>9}{'GFLOP/upd':>12}{'TFLOP/s':>9}"
          f"{'MFU':>7}{'padding':>9}{'peak MiB':>10}", flush=True)
    steps = args.warmup + args.updates
    for regions in args.regions:
        data = build_data(args.work, regions, args.tiny)
        for precision in args.precisions:
            if "unimo_base" in only:
                cfg, task, model, trainer = make_trainer(unimo_argv(data, "unimo_base", precision, args.tiny),
                                                         args.device)
                dims, pad = F.Dims.of(model.cfg, len(task.source_dictionary)), task.source_dictionary.pad()
                batches = batches_of(cfg, task, model, steps, workers=loader_workers(args))
                result = measure(trainer, batches, lambda b: F.unimo_pretrain_step(dims, b, pad), pad, args.warmup,
                                 args.device)
                report(f"unimo_base {regions} regions {precision}", result, peak)
                release(cfg, task, model, trainer, batches)
            if "roberta_base" in only and regions == args.regions[0]:
                cfg, task, model, trainer = make_trainer(roberta_argv(data, precision, args.tiny), args.device)
                dims, pad = F.Dims.of(model.args if hasattr(model, "args") else cfg.model,
                                      len(task.source_dictionary)), task.source_dictionary.pad()
                batches = batches_of(cfg, task, model, steps, workers=loader_workers(args))
                result = measure(trainer, batches,
                                 lambda b: F.text_mlm_step(dims, b["net_input"]["src_tokens"], pad,
                                                           int(b["target"].ne(pad).sum())), pad, args.warmup,
                                 args.device)
                report(f"roberta_base (masked_lm) {precision}", result, peak)
                release(cfg, task, model, trainer, batches)
    if "unimo_large" in only:
        largest_batch(args, peak)


def largest_batch(args, peak):
    """unimo_large, --checkpoint-activations, 100 regions, bf16, image-text batches of a growing number of
    pairs (doubling, then halving the gap) until one runs out of memory or the time budget is spent."""
    from unimo_plugin.models import flops as F

    data = build_data(args.work, 100, args.tiny)
    arch = "unimo_tiny" if args.tiny else "unimo_large"
    argv = unimo_argv(data, arch, "bf16", args.tiny, "--checkpoint-activations", "--modality-ratios", "pair:1",
                      "--max-tokens", "100000000", "--max-regions", "100000000")
    cfg, task, model, trainer = make_trainer(argv, args.device)
    dims, pad = F.Dims.of(model.cfg, len(task.source_dictionary)), task.source_dictionary.pad()
    start, fits, fails, results = time.perf_counter(), None, None, {}
    size = args.largest_from
    warmup, updates = (1, 1) if args.tiny else (2, 3)
    while time.perf_counter() - start < args.search_seconds:
        batches = batches_of(cfg, task, model, warmup + updates, max_sentences=size, modalities={"pair"},
                             workers=loader_workers(args))
        if len(batches) < warmup + updates:
            print(f"unimo_large search: the data makes too few batches of {size} pairs; stopping", flush=True)
            break
        try:
            result = measure(trainer, batches, lambda b: F.unimo_pretrain_step(dims, b, pad), pad, warmup, args.device)
        except torch.cuda.OutOfMemoryError:
            result = None
        release(batches)
        report(f"unimo_large ckpt 100 reg bf16 {size} pairs", result, peak)
        if result is None:
            fails = size
        else:
            fits, results[size] = size, result
        if fails is None:
            size *= 2
        elif fits is None or fails - fits <= max(8, fits // 8):
            break
        else:
            size = (fits + fails) // 2 // 8 * 8
        if args.tiny and len(results) >= 2:
            break
    if fits is not None:
        mfu = f"{100 * results[fits]['model TFLOP/s'] / peak:.1f}%" if peak else "n/a"
        limit = "none ran out of memory: the search stopped first" if fails is None else f"{fails} ran out of memory"
        print(f"unimo_large, --checkpoint-activations, 100 regions, bf16: largest batch that fit {fits} pairs "
              f"({limit}); its MFU {mfu}", flush=True)
    release(cfg, task, model, trainer)


if __name__ == "__main__":
    main()
