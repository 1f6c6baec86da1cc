"""Does CMCL learn, and when, for every seed? Pretrains unimo_tiny on the sample data with a recipe for
several seeds, finds the update at which CMCL's training loss leaves chance, and measures zero-shot
retrieval on the held-out test split.

"Leaves chance": the first logged update (the loss averaged over the --log-interval updates up to it)
from which the CMCL loss stays below chance - 0.1 until the end; chance is the loss of equal scores
(``cmcl_chance``, about ln 129 for 64 pairs with 2 hard negatives). "never" if it does not.

Recipes: ``demo`` is scripts/demo.sh's pretraining (CMCL weight 10, the criterion's default, and
``--pooling mean``); ``first`` is the same with the pooled ``<s>`` and ``[IMG]`` of the first position
(UNIMO's pooling, the demo's before); ``before`` is ``first`` at CMCL weight 1, which the demo ran before
that and which sat at chance for hundreds of updates.

    python benchmarks/cmcl_reliability.py --recipes before first demo --seeds 1 2 3 --updates 400
    python benchmarks/cmcl_reliability.py --recipes demo --seeds 1 --updates 200   # a quick look

Finished runs (their logs under --work) are reused, so seeds can be run apart and the table printed
once all are done.

The sample data and its CMCL sidecars come from scripts/demo.sh (its first stages).
"""
import argparse
import os
import statistics
import sys
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.dirname(HERE), HERE]  # this repository's unimo_plugin, and pretrain_runs beside
from pretrain_runs import DEMO, read_log, train_command  # noqa: E402
from pretrain_runs import train as run_training  # noqa: E402

MARGIN = 0.1

RECIPES = {
    "demo": DEMO,
    "first": DEMO + ["--pooling", "first"],
    "before": DEMO + ["--pooling", "first", "--cmcl-weight", "1"],
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="sample_data", help="the demo's DATA dir, with CMCL sidecars")
    p.add_argument("--work", default="demo_work/cmcl_reliability", help="checkpoints and logs, one dir per run")
    p.add_argument("--recipes", nargs="+", default=["before", "demo"], choices=sorted(RECIPES))
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    p.add_argument("--updates", type=int, default=1200, help="updates per run (the demo's 1200)")
    p.add_argument("--log-interval", type=int, default=50, help="updates per logged CMCL loss")
    p.add_argument("--jobs", type=int, default=2, help="runs at once, each on one thread")
    p.add_argument("--extra", default="", help="more fairseq-train options for every run (one string)")
    return p.parse_args(argv)


def train(args, recipe, seed):
    """Train one run (kept if its log is complete) and return its logged (update, cmcl_loss, chance)."""
    save = os.path.join(args.work, f"{recipe}_seed{seed}")
    command = train_command(args.data, RECIPES[recipe] + args.extra.split(), args.updates, seed, save,
                            args.log_interval)
    return _cmcl_curve(run_training(command, save))


def _cmcl_curve(log):
    return [(int(r["num_updates"]), float(r["cmcl_loss"]), float(r["cmcl_chance"])) for r in read_log(log)
            if "cmcl_loss" in r]


def leaves_chance(curve, margin=MARGIN):
    """First logged update from which the loss stays below chance - margin; None if never."""
    first = None
    for update, loss, chance in curve:
        if loss < chance - margin:
            first = update if first is None else first
        else:
            first = None
    return first


def evaluate(args, recipe, seed):
    from unimo_plugin.evaluation.retrieval import evaluate_zero_shot

    checkpoint = os.path.join(args.work, f"{recipe}_seed{seed}", "checkpoint_last.pt")
    recall, _, _ = evaluate_zero_shot(checkpoint, args.data, None, "test", 10, (1, 5), 64)
    return {k: (recall[k][0] + recall[k][1]) / 2 for k in (1, 5)}


def spread(values):
    values = [v for v in values if v is not None]
    if not values:
        return "never"
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.1f} ± {sd:.1f}"


def main(argv=None):
    args = parse_args(argv)
    runs = [(recipe, seed) for recipe in args.recipes for seed in args.seeds]
    with ThreadPoolExecutor(args.jobs) as pool:
        curves = dict(zip(runs, pool.map(lambda run: train(args, *run), runs)))
    import torch

    torch.set_num_threads(max(1, args.jobs))
    rows = {run: (leaves_chance(curves[run]), evaluate(args, *run)) for run in runs}
    print(f"CMCL leaves chance (loss < chance - {MARGIN} from then on, logged every {args.log_interval} updates); "
          f"zero-shot R@k on the test split, mean of image->text and text->image; {args.updates} updates")
    print(f"{'recipe':<8}{'seed':>6}{'leaves chance':>15}{'final CMCL':>12}{'chance':>8}{'R@1':>12}{'R@5':>12}")
    for (recipe, seed), (left, recall) in rows.items():
        _, final, chance = curves[(recipe, seed)][-1]
        print(f"{recipe:<8}{seed:>6}{left if left is not None else 'never':>15}{final:>12.3f}{chance:>8.3f}"
              f"{recall[1]:>12.1f}{recall[5]:>12.1f}")
    for recipe in args.recipes:
        mine = [rows[(recipe, s)] for s in args.seeds]
        never = sum(left is None for left, _ in mine)
        print(f"{recipe:<8}{'mean':>6}{spread([left for left, _ in mine]):>15}"
              f"{'':>20}{spread([r[1] for _, r in mine]):>12}{spread([r[5] for _, r in mine]):>12}"
              + (f"   ({never} of {len(mine)} never left chance)" if never else ""))


if __name__ == "__main__":
    main()
