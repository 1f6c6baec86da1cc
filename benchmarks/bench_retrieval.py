"""Two-stage vs exhaustive cross-encoder retrieval: time and recall on 1,000 images x 5,000 captions.

A synthetic Karpathy split (unimo_plugin.testing.synthetic_retrieval: region features encode a colour,
shape, size and side that the captions name) goes through binarize_captions; a tiny unimo model is
fine-tuned briefly with ``fairseq-train --task unimo_retrieval --bi-encoder-weight 1`` (so its
bi-encoder is aligned too), then the test split is searched both ways in one process:

- two-stage (all queries): bi-encoder embeddings of every image and caption, each image's and each
  caption's top-k candidates rescored by the cross-encoder;
- exhaustive: the cross-encoder over every (image, caption) pair. On a CPU 5M pairs take hours, so
  by default it runs for a random sample of query images (against every caption) and query captions
  (against every image) only: its time is EXTRAPOLATED from the measured seconds per pair to all
  pairs, and recall is compared on the sampled queries, where exhaustive recall is exact.
  ``--exhaustive-images 0 --exhaustive-captions 0`` scores every pair (on a GPU).

    python benchmarks/bench_retrieval.py [--top-k 16 --exhaustive-images 40 --exhaustive-captions 200]
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time
from argparse import Namespace

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from unimo_plugin.evaluation.cross_retrieval import PairScorer, load_checkpoint, two_stage_scores  # noqa: E402
from unimo_plugin.models.bi_encoder import embed_split  # noqa: E402
from unimo_plugin.preprocess.captions.caption_binarizer import binarize_captions  # noqa: E402
from unimo_plugin.preprocess.text.bpe_training import train_bpe  # noqa: E402
from unimo_plugin.testing.synthetic_retrieval import write_retrieval_data  # noqa: E402

KS = (1, 5, 10)
TINY = ["--arch", "unimo_tiny", "--encoder-layers", "2", "--encoder-embed-dim", "64", "--encoder-ffn-embed-dim", "128",
        "--encoder-attention-heads", "4", "--max-positions", "64", "--region-feature-dim", "12",
        "--num-region-classes", "2"]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=1000, help="test images (default: %(default)s)")
    p.add_argument("--captions-per-image", type=int, default=5, help="(default: %(default)s)")
    p.add_argument("--train-images", type=int, default=1000, help="fine-tuning images (default: %(default)s)")
    p.add_argument("--updates", type=int, default=300, help="fine-tuning updates (default: %(default)s)")
    p.add_argument("--top-k", type=int, default=16, help="two-stage candidates per query (default: %(default)s)")
    p.add_argument("--exhaustive-images", type=int, default=40,
                   help="query images scored exhaustively, 0 for all (default: %(default)s)")
    p.add_argument("--exhaustive-captions", type=int, default=200,
                   help="query captions scored exhaustively, 0 for all (default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=1024, help="pairs per cross-encoder pass (default: %(default)s)")
    p.add_argument("--checkpoint", help="a unimo_retrieval checkpoint for --workdir's data (skips fine-tuning)")
    p.add_argument("--workdir", help="where data and checkpoint go (default: a temporary directory); a rerun "
                                     "reuses its data and resumes fine-tuning from its checkpoint")
    p.add_argument("--seed", type=int, default=0, help="(default: %(default)s)")
    return p.parse_args(argv)


def prepare(args, root):
    """Synthetic splits binarized as a user would, and a briefly fine-tuned tiny model."""
    data = os.path.join(root, "data")
    if not os.path.exists(os.path.join(data, "pairs")):
        karpathy, store, corpus = write_retrieval_data(
            os.path.join(root, "raw"), {"train": args.train_images, "test": args.images},
            args.captions_per_image, seed=args.seed)
        bpe = os.path.join(root, "bpe")
        train_bpe([corpus], bpe, vocab_size=300, min_frequency=1, only_seen_tokens=True)
        os.makedirs(data, exist_ok=True)
        with open(os.path.join(bpe, "dict.txt"), "rb") as src, open(os.path.join(data, "dict.txt"), "wb") as dst:
            dst.write(src.read())
        bpe_cfg = Namespace(bpe="gpt2", gpt2_encoder_json=os.path.join(bpe, "encoder.json"),
                            gpt2_vocab_bpe=os.path.join(bpe, "vocab.bpe"))
        binarize_captions([karpathy], os.path.join(data, "pairs"), store, os.path.join(data, "dict.txt"), bpe_cfg)
    if args.checkpoint:
        return data, args.checkpoint
    save_dir = os.path.join(root, "ckpt")
    start = time.perf_counter()
    proc = subprocess.run([
        os.path.join(os.path.dirname(sys.executable), "fairseq-train"), data, "--user-dir",
        os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "unimo_plugin"),
        "--task", "unimo_retrieval", "--criterion", "unimo_retrieval", "--bi-encoder-weight", "1", *TINY,
        "--batch-size", "32", "--optimizer", "adam", "--lr", "2e-3", "--lr-scheduler", "inverse_sqrt",
        "--warmup-updates", "30", "--max-update", str(args.updates), "--dropout", "0", "--attention-dropout", "0",
        "--log-format", "simple", "--log-interval", "50", "--cpu", "--seed", "1", "--num-workers", "0",
        "--save-dir", save_dir, "--no-epoch-checkpoints", "--disable-validation"], capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"fairseq-train failed:\n{proc.stderr[-3000:]}")
    # fairseq-train resumes WORKDIR/ckpt/checkpoint_last.pt: a rerun with more --updates trains on
    print(f"fine-tuned up to update {args.updates} in {time.perf_counter() - start:.0f} s")
    return data, os.path.join(save_dir, "checkpoint_last.pt")


def hits_i2t(scores, images, caption_images, k):
    """% of query images (rows of ``scores``, image indices ``images``) with a caption of theirs in the top k."""
    top = scores.topk(k, dim=1).indices
    return 100 * (caption_images[top] == images[:, None]).any(1).float().mean().item()


def hits_t2i(scores, captions, caption_images, k):
    """% of query captions (columns of ``scores``) whose image is in their top k."""
    top = scores.topk(k, dim=0).indices
    return 100 * (top == caption_images[captions][None]).any(0).float().mean().item()


def sample(rng, n, total):
    """n sorted random indices of range(total); all of them for n = 0."""
    return torch.from_numpy(np.sort(rng.choice(total, n, replace=False)) if n else np.arange(total))


def main(argv=None):
    args = parse_args(argv)
    torch.manual_seed(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        data, checkpoint = prepare(args, args.workdir or tmp)
        model, task = load_checkpoint(checkpoint, data)
        captions, image_rows = task.load_split("test")
        store, dictionary = task.region_store(), task.source_dictionary
        rows = np.unique(image_rows)
        caption_images = torch.from_numpy(np.searchsorted(rows, image_rows))
        num_images, num_captions = len(rows), len(captions)
        scorer = PairScorer(model, dictionary, captions, rows, store, 100, args.batch_size)

        start = time.perf_counter()
        images, texts, _ = embed_split(model, dictionary, captions, image_rows, store, 100, 256)
        i2t, t2i = two_stage_scores(images @ texts.t(), args.top_k, scorer)
        two_stage_seconds, two_stage_pairs = time.perf_counter() - start, scorer.pairs_scored

        rng = np.random.default_rng(args.seed)
        query_images = sample(rng, args.exhaustive_images, num_images)
        query_captions = sample(rng, args.exhaustive_captions, num_captions)
        scorer.pairs_scored = 0
        start = time.perf_counter()
        by_image = scorer(torch.cartesian_prod(query_images, torch.arange(num_captions))).view(len(query_images), -1)
        by_caption = scorer(torch.cartesian_prod(torch.arange(num_images), query_captions)).view(num_images, -1)
        seconds_per_pair = (time.perf_counter() - start) / scorer.pairs_scored
        all_pairs = num_images * num_captions
        exhaustive_seconds = seconds_per_pair * all_pairs
        sampled = bool(args.exhaustive_images or args.exhaustive_captions)

    print(f"\n{num_images} images x {num_captions} captions, tiny unimo ({sum(p.numel() for p in model.parameters())} "
          f"parameters), {torch.get_num_threads()} CPU threads, pairs per batch {args.batch_size}")
    est = " (extrapolated)" if sampled else ""
    print(f"{'':<34}{'exhaustive':>22}{f'two-stage, top {args.top_k}':>22}")
    print(f"{'cross-encoder pairs scored':<34}{all_pairs:>22,}{two_stage_pairs:>22,}")
    print(f"{'seconds' + est:<34}{exhaustive_seconds:>22.1f}{two_stage_seconds:>22.1f}")
    print(f"{'speed-up':<34}{'':>22}{exhaustive_seconds / two_stage_seconds:>21.1f}x")
    where = f"{len(query_images)} query images / {len(query_captions)} query captions"
    print(f"recall (%) on {where}; difference = two-stage - exhaustive")
    for k in KS:
        ex = (hits_i2t(by_image, query_images, caption_images, k),
              hits_t2i(by_caption, query_captions, caption_images, k))
        two = (hits_i2t(i2t[query_images], query_images, caption_images, k),
               hits_t2i(t2i[:, query_captions], query_captions, caption_images, k))
        for name, e, t in (("image->text", ex[0], two[0]), ("text->image", ex[1], two[1])):
            print(f"{f'{name} R@{k}':<34}{e:>22.1f}{t:>22.1f}   ({t - e:+.1f})")
    full = [(hits_i2t(i2t, torch.arange(num_images), caption_images, k),
             hits_t2i(t2i, torch.arange(num_captions), caption_images, k)) for k in KS]
    print("two-stage recall on all queries: " + ", ".join(
        f"R@{k} i->t {r[0]:.1f} t->i {r[1]:.1f}" for k, r in zip(KS, full)))


if __name__ == "__main__":
    main()
