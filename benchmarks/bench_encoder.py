"""Forward+backward time of unimo (text only) vs fairseq's RoBERTa of identical dimensions.

Both models get the same batches (masked-LM shaped: logits on 15% of tokens), timed in
alternating runs in one process so machine noise hits both alike; the ratio is what to read.
Peak memory is measured for each model in a fresh subprocess (CPU: growth of peak RSS during
the step; GPU: torch.cuda.max_memory_allocated).

    python benchmarks/bench_encoder.py [--layers 12 --dim 768 --batch-size 8 --seq-len 128]
"""
import argparse
import os
import resource
import statistics
import subprocess
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

VOCAB = 50265


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--layers", type=int, default=12, help="transformer layers (unimo_base: 12)")
    p.add_argument("--dim", type=int, default=768, help="hidden size (unimo_base: 768); FFN is 4x, heads dim/64")
    p.add_argument("--batch-size", type=int, default=8, help="sequences per batch")
    p.add_argument("--seq-len", type=int, default=128, help="longest sequence; others are shorter (padding)")
    p.add_argument("--iters", type=int, default=6, help="timed steps per model (after one warm-up)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="cpu or cuda")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--memory-of", choices=["unimo", "roberta"], help=argparse.SUPPRESS)  # subprocess mode
    return p.parse_args(argv)


def make_dictionary():
    from fairseq.data import Dictionary

    d = Dictionary()
    for i in range(VOCAB - d.nspecial - 1):
        d.add_symbol(str(i))
    d.add_symbol("<mask>")
    return d


def build_models(args, dictionary, which=("unimo", "roberta")):
    from fairseq.models.roberta import RobertaModel, roberta_base_architecture

    import unimo_plugin  # noqa: F401
    from unimo_plugin.models.unimo import UnimoConfig, UnimoModel

    class Task:
        source_dictionary = target_dictionary = dictionary

    dims = dict(encoder_layers=args.layers, encoder_embed_dim=args.dim, encoder_ffn_embed_dim=4 * args.dim,
                encoder_attention_heads=max(1, args.dim // 64))
    models = {}
    if "unimo" in which:
        models["unimo"] = UnimoModel.build_model(UnimoConfig(**dims), Task())
    if "roberta" in which:
        ns = argparse.Namespace(**dims, max_positions=512)
        roberta_base_architecture(ns)
        models["roberta"] = RobertaModel.build_model(ns, Task())
    return {k: m.to(args.device).train() for k, m in models.items()}


def make_batches(args, dictionary, n):
    g = torch.Generator().manual_seed(0)
    batches = []
    for _ in range(n):
        lengths = torch.randint(args.seq_len // 2, args.seq_len + 1, (args.batch_size,), generator=g)
        lengths[0] = args.seq_len
        tokens = torch.full((args.batch_size, args.seq_len), dictionary.pad())
        for i, n_tok in enumerate(lengths.tolist()):
            tokens[i, :n_tok] = torch.randint(dictionary.nspecial, VOCAB - 1, (n_tok,), generator=g)
        real = tokens.ne(dictionary.pad())
        masked = (torch.rand(tokens.shape, generator=g) < 0.15) & real
        targets = tokens[masked]
        batches.append((tokens.to(args.device), masked.to(args.device), targets.to(args.device)))
    return batches


def step(model, batch):
    tokens, masked, targets = batch
    logits = model(tokens, masked_tokens=masked)[0]
    loss = torch.nn.functional.cross_entropy(logits.float(), targets)
    loss.backward()
    model.zero_grad(set_to_none=True)


def sync(device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def rss_mib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def measure_memory(args):
    dictionary = make_dictionary()
    model = build_models(args, dictionary, which=(args.memory_of,))[args.memory_of]
    batches = make_batches(args, dictionary, 1)
    if args.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
        step(model, batches[0])
        print(f"{torch.cuda.max_memory_allocated() / 2**20:.0f}")
    else:
        before = rss_mib()
        step(model, batches[0])
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"{peak - before:.0f}")


def main(argv=None):
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.memory_of:
        return measure_memory(args)
    dictionary = make_dictionary()
    models = build_models(args, dictionary)
    batches = make_batches(args, dictionary, args.iters + 1)
    times = {name: [] for name in models}
    for name, model in models.items():  # warm-up
        step(model, batches[0])
    for batch in batches[1:]:
        for name in (("unimo", "roberta") if len(times["unimo"]) % 2 == 0 else ("roberta", "unimo")):
            sync(args.device)
            start = time.perf_counter()
            step(models[name], batch)
            sync(args.device)
            times[name].append(time.perf_counter() - start)

    memory = {}
    for name in models:
        cmd = [sys.executable, os.path.abspath(__file__), "--memory-of", name] + (argv or sys.argv[1:])
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()
        memory[name] = float(out[-1])

    print(f"device={args.device} threads={torch.get_num_threads()} layers={args.layers} dim={args.dim} "
          f"batch={args.batch_size}x{args.seq_len} (padded, 15% masked), vocab={VOCAB}")
    print(f"{'model':<10}{'median fwd+bwd (s)':>20}{'peak memory (MiB)':>20}")
    for name in models:
        print(f"{name:<10}{statistics.median(times[name]):>20.3f}{memory[name]:>20.0f}")
    ratio = statistics.median(times["unimo"]) / statistics.median(times["roberta"])
    print(f"time ratio unimo/roberta = {ratio:.3f} (target <= 1.0)")
    print(f"memory ratio unimo/roberta = {memory['unimo'] / memory['roberta']:.3f}")


if __name__ == "__main__":
    main()
