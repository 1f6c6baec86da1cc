"""The rewriting-level ablation of CMCL: what each kind of hard negative (and the paraphrase positives)
contributes. Pretrains the same model (unimo_tiny, the demo's recipe) with the same seed and number of
updates on the sample data, from one data directory, with the CMCL negatives ``--cmcl-select`` chooses:

    none       (a) in-batch negatives only
    sentence   (b) + TF-IDF sentence negatives (captions of other images)
    phrase     (c) + phrase-level scene-graph rewrites
    word       (d) + word-level scene-graph rewrites
    all        (e) every hard negative (sentence + phrase + word)
    all+para   (f) every hard negative + paraphrase positives
    exchange   (g) exchange rewrites only (two phrases of the caption trading an attribute or their nouns)

(b)-(d) each add one level to the in-batch negatives; every recipe but (a) draws the same number of hard
negatives per pair (``--negatives``, the demo's 2). Each run is then evaluated: zero-shot retrieval R@1/R@5
on the held-out test split (``unimo-eval-retrieval``, mean of image->text and text->image) and the accuracy
per category on the sample's swap set (``unimo-eval-compositional``: is the true caption scored above one
with an attribute, object or relation swapped), with the same accuracy when every image is replaced by the
mean image (what the text alone decides). The table gives per recipe the mean and spread (sample standard
deviation) over the seeds.

    python benchmarks/cmcl_ablation.py --seeds 1 2 --updates 150 --jobs 2    # the README's table
    python benchmarks/cmcl_ablation.py --seeds 1 2 --updates 400 --diagnostic  # longer, with the diagnostic
    python benchmarks/cmcl_ablation.py --seeds 1 --updates 30 --recipes none all   # a quick check

Data preparation (skipped where its outputs exist), all with the project's own commands, in --data:
  1. unimo-make-sample-data --out DATA                            the embedded sample data
  2. unimo-rewrite-captions --pairs DATA/pairs --split train --per-caption 12
                                                                  phrase- and word-level rewrites
  3. unimo-retrieve-negatives --pairs DATA/pairs --split train --per-caption 5
                                                                  TF-IDF sentence negatives
  4. WORK/paraphrases.tsv: for each training caption, the other captions of its image, then
     unimo-paraphrase --pairs DATA/pairs --split train --import WORK/paraphrases.tsv
     The sample ships no translation models for back-translation; the other captions of the same image
     are true descriptions of the same scene written differently, which is what a paraphrase positive is.
  5. unimo-build-cmcl-sidecars --pairs DATA/pairs --split train --dict DATA/dict.txt ...
  6. unimo-make-sample-swaps --scenes DATA/raw/dataset_sample.json --split test --out WORK/swaps

12 rewrites per caption (the demo makes 3) so that the phrase and word levels alone each have the 2
negatives a pair draws for nearly every caption; the script prints how many captions have fewer (on the
sample: TF-IDF 11.8%, as TF-IDF hits equal to a rewrite are merged into it; phrase 7.1%; word 0%;
exchanges 78.5%: only captions naming two objects with something to trade have any).

--diagnostic also scores each run on its own training data: for 400 training images, the caption against
its first hard negative of each level and against another image's caption (what in-batch negatives are).

Runs live in WORK/runs/UPDATES_updates/RECIPE_seedSEED (train.log, checkpoint_last.pt, retrieval.txt,
compositional.json, training_negatives.json); a run whose evaluation files exist is not rerun, one whose
training finished is only evaluated. --jobs trainings run at once, each run's
evaluation beside them. WORK/runs/UPDATES_updates/results.json holds the per-run figures, table.md beside
it the tables.
"""
import argparse
import json
import math
import os
import statistics
import subprocess
import sys
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.dirname(HERE), HERE]  # this repository's unimo_plugin, and pretrain_runs beside
from pretrain_runs import DEMO, read_log, single_thread_env, train, train_command  # noqa: E402

# name -> (label, --cmcl-select)
RECIPES = {
    "none": ("(a) in-batch only", "none"),
    "sentence": ("(b) + TF-IDF sentence", "negatives:sentence"),
    "phrase": ("(c) + phrase rewrites", "negatives:phrase"),
    "word": ("(d) + word rewrites", "negatives:word"),
    "all": ("(e) all negatives", "negatives"),
    "all+para": ("(f) all + paraphrases", "negatives,paraphrases"),
    "exchange": ("(g) + exchanges only", "negatives:exchange"),
}
SWAP_CATEGORIES = ("replace-att", "replace-obj", "replace-rel", "swap-att", "swap-obj")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="ablation_work/data", help="the one DATA dir of every run (built if missing)")
    p.add_argument("--work", default="ablation_work", help="runs, swap set, paraphrase TSV, results")
    p.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    p.add_argument("--updates", type=int, default=150, help="updates per run (default: %(default)s)")
    p.add_argument("--negatives", type=int, default=2, help="--cmcl-negatives of every run (the demo's 2)")
    p.add_argument("--jobs", type=int, default=2,
                   help="trainings at once, each on one thread, beside one evaluation (default: %(default)s)")
    p.add_argument("--log-interval", type=int, default=50, help="updates per logged training loss")
    p.add_argument("--extra", default="", help="more fairseq-train options for every run (one string)")
    p.add_argument("--variant", default="",
                   help="a name for --extra's recipe: its runs go to runs/UPDATES_updates_VARIANT, beside the plain ones")
    p.add_argument("--diagnostic", action="store_true",
                   help="also score each run on its own training negatives per level (training_negatives.json)")
    p.add_argument("--prepare-only", action="store_true", help="build the data and swap set, train nothing")
    return p.parse_args(argv)


def _command(module, *args, log=None):
    cmd = [sys.executable, "-m", f"unimo_plugin.cli.{module}", *map(str, args)]
    print("$ unimo-" + module.replace("_", "-"), " ".join(map(str, args)), flush=True)
    if log is None:
        subprocess.run(cmd, env=single_thread_env(), check=True)
    else:
        with open(log, "w") as out:
            subprocess.run(cmd, env=single_thread_env(), check=True, stdout=out, stderr=subprocess.STDOUT)


# ---------------------------------------------------------------------------------------------- data


def paraphrase_lines(captions):
    """``caption_id<TAB>text`` lines: for each caption, every other caption of its image (in split order)."""
    by_image = defaultdict(list)
    for c in captions:
        by_image[c["image_id"]].append(c)
    lines = []
    for c in captions:
        lines += [f"{c['caption_id']}\t{o['text']}" for o in by_image[c["image_id"]]
                  if o["caption_id"] != c["caption_id"] and "\t" not in o["text"] and "\n" not in o["text"]]
    return lines


FIT_CATEGORIES = ("in-batch", "sentence", "phrase", "word")


def training_negative_items(captions, negatives, images=400):
    """A diagnostic swap set of the training data itself, in SugarCrepe's format per category: for the first
    caption of each of the first ``images`` training images, the first hard negative of each level
    (``sentence``, ``phrase``, ``word``; ``negatives[i]`` are caption i's cmcl_raw items) and, as
    ``in-batch``, the first caption of the next image (what in-batch negatives are). Accuracy on it says
    whether a model learned to reject the negatives it was trained on."""
    firsts, seen = [], set()
    for i, c in enumerate(captions):
        if c["image_id"] not in seen:
            seen.add(c["image_id"])
            firsts.append(i)
    firsts = firsts[:images + 1]
    out = {category: {} for category in FIT_CATEGORIES}
    for n, i in enumerate(firsts[:images]):
        c = captions[i]
        item = {"filename": c["image_id"], "caption": c["text"]}
        if n + 1 < len(firsts):
            out["in-batch"][c["caption_id"]] = dict(item, negative_caption=captions[firsts[n + 1]]["text"])
        for level in FIT_CATEGORIES[1:]:
            texts = [x["text"] for x in negatives[i] if x.get("level") == level]
            if texts:
                out[level][c["caption_id"]] = dict(item, negative_caption=texts[0])
    return out


def prepare(args):
    """Build --data and the swap set; every step is skipped when its outputs exist."""
    from unimo_plugin.formats.caption_sets import read_caption_records

    data, pairs = args.data, os.path.join(args.data, "pairs")
    os.makedirs(args.work, exist_ok=True)
    _command("make_sample_data", "--out", data)  # resumes itself
    if not os.path.exists(os.path.join(pairs, "train.cmcl.manifest.json")):
        _command("rewrite_captions", "--pairs", pairs, "--split", "train", "--per-caption", 12, "--workers", 2)
        _command("retrieve_negatives", "--pairs", pairs, "--split", "train", "--per-caption", 5)
        tsv = os.path.join(args.work, "paraphrases.tsv")
        lines = paraphrase_lines(read_caption_records(pairs, "train"))
        with open(tsv + ".tmp", "w", encoding="utf-8") as f:
            f.write("".join(line + "\n" for line in lines))
        os.replace(tsv + ".tmp", tsv)
        _command("paraphrase", "--pairs", pairs, "--split", "train", "--import", tsv, "--no-progress")
        _command("build_cmcl_sidecars", "--pairs", pairs, "--split", "train", "--dict", os.path.join(data, "dict.txt"),
                 "--gpt2-encoder-json", os.path.join(data, "encoder.json"),
                 "--gpt2-vocab-bpe", os.path.join(data, "vocab.bpe"))
    swaps = os.path.join(args.work, "swaps")
    if not os.path.isdir(swaps):
        _command("make_sample_swaps", "--scenes", os.path.join(data, "raw", "dataset_sample.json"), "--split", "test",
                 "--out", swaps + ".tmp")
        os.replace(swaps + ".tmp", swaps)
    fit = os.path.join(args.work, "training_negatives")
    if not os.path.isdir(fit):
        from unimo_plugin.formats.cmcl_candidates import read_cmcl_raw

        captions = read_caption_records(pairs, "train")
        negatives = [[] for _ in captions]
        for name in ("scene_graph", "tfidf"):
            for i, items in enumerate(read_cmcl_raw(os.path.join(pairs, f"train.cmcl_raw.negatives.{name}.jsonl"),
                                                    captions, "text")):
                negatives[i] += items
        os.makedirs(fit + ".tmp", exist_ok=True)
        for category, items in training_negative_items(captions, negatives).items():
            with open(os.path.join(fit + ".tmp", f"{category}.json"), "w") as f:
                json.dump(items, f)
        os.replace(fit + ".tmp", fit)
    print(coverage_report(pairs, args.negatives), flush=True)


def coverage_report(pairs, negatives):
    """How many training captions have fewer than ``negatives`` hard negatives under each recipe."""
    import numpy as np

    from unimo_plugin.data.cmcl_selection import item_names, parse_selection
    from unimo_plugin.formats import cmcl_sidecars

    prefix = os.path.join(pairs, "train")
    offsets = np.load(cmcl_sidecars.offsets_path(prefix, "negatives"))
    meta = cmcl_sidecars.read_meta(prefix)
    lines = [f"training captions with fewer than {negatives} hard negatives to draw from ({len(offsets) - 1} in all):"]
    for name, (label, spec) in RECIPES.items():
        selection = parse_selection(spec)
        if "negatives" not in selection.kinds and not selection.negative_filters:
            continue
        keep = [("negatives" in selection.kinds) or bool(selection.negative_filters & item_names(m)) for m in meta]
        counts = [sum(keep[int(offsets[i]):int(offsets[i + 1])]) for i in range(len(offsets) - 1)]
        short = sum(c < negatives for c in counts)
        lines.append(f"  {label:<26} {short:>6} ({100 * short / max(len(counts), 1):.1f}%), "
                     f"mean {statistics.mean(counts):.2f} per caption")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------- train, eval


def runs_dir(args):
    return os.path.join(args.work, "runs", f"{args.updates}_updates" + (f"_{args.variant}" if args.variant else ""))


def run_dir(args, recipe, seed):
    return os.path.join(runs_dir(args), f"{recipe}_seed{seed}")


def run_command(args, recipe, seed):
    """The demo's pretraining with this recipe's --cmcl-select and the common --cmcl-negatives (given after
    the demo's own, so they win)."""
    options = [*DEMO, "--cmcl-select", RECIPES[recipe][1], "--cmcl-negatives", str(args.negatives), *args.extra.split()]
    return train_command(args.data, options, args.updates, seed, run_dir(args, recipe, seed), args.log_interval)


def parse_retrieval(text):
    """``{k: (image->text, text->image)}`` from what unimo-eval-retrieval printed."""
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 5 and parts[0].startswith("R@"):
            out[int(parts[0][2:])] = (float(parts[1]), float(parts[3]))
    if not out:
        raise ValueError("no R@k lines in the retrieval output")
    return out


def _run_files(args, recipe, seed):
    save = run_dir(args, recipe, seed)
    return save, {name: os.path.join(save, name) for name in
                  ("train.log", "checkpoint_last.pt", "retrieval.txt", "compositional.json", "training_negatives.json")}


def train_one(args, recipe, seed):
    """Train one run unless its log is complete or its evaluations are all done."""
    save, files = _run_files(args, recipe, seed)
    needed = ("retrieval.txt", "compositional.json", "train.log") + (("training_negatives.json",) if args.diagnostic else ())
    if not all(os.path.exists(files[name]) for name in needed):
        train(run_command(args, recipe, seed), save)


def evaluate_one(args, recipe, seed):
    """Evaluate (each evaluation unless done) one trained run; its figures as a flat dict."""
    save, files = _run_files(args, recipe, seed)
    log, checkpoint = files["train.log"], files["checkpoint_last.pt"]
    retrieval, compositional, fit = files["retrieval.txt"], files["compositional.json"], files["training_negatives.json"]
    if not os.path.exists(retrieval):
        _command("eval_retrieval", checkpoint, "--data", args.data, "--split", "test", "--max-regions", 10,
                 "--ks", 1, 5, log=retrieval + ".tmp")
        os.replace(retrieval + ".tmp", retrieval)
    for items, output in (("swaps", compositional), ("training_negatives", fit))[:2 if args.diagnostic else 1]:
        if not os.path.exists(output):
            _command("eval_compositional", checkpoint, "--items", os.path.join(args.work, items), "--regions",
                     os.path.join(args.data, "pair_regions"), "--data", args.data, "--max-regions", 10,
                     "--json", output + ".tmp", log=output[:-len(".json")] + ".txt")
            os.replace(output + ".tmp", output)
    with open(retrieval) as f:
        recall = parse_retrieval(f.read())
    with open(compositional) as f:
        comp = json.load(f)
    row = run_figures(recall, comp, read_log(log))
    if os.path.exists(fit):
        with open(fit) as f:
            row.update({f"train {c}": r["accuracy"] for c, r in json.load(f)["categories"].items() if c != "all"})
    return row


def run_figures(recall, comp, records):
    """One run's table figures: R@1/5 (mean of both directions), swap accuracy per category and overall,
    the image-ablated overall accuracy, and the last logged CMCL loss beside its chance level."""
    row = {f"R@{k}": (recall[k][0] + recall[k][1]) / 2 for k in (1, 5) if k in recall}
    for category, r in comp["categories"].items():
        row[category] = r["accuracy"]
        row[f"{category} (mean image)"] = r["mean_image_accuracy"]
    cmcl = [r for r in records if "cmcl_loss" in r]
    if cmcl:
        row["cmcl_loss"] = float(cmcl[-1]["cmcl_loss"])
        if "cmcl_chance" in cmcl[-1]:
            row["cmcl_chance"] = float(cmcl[-1]["cmcl_chance"])
    return row


# --------------------------------------------------------------------------------------------- table


def mean_spread(values):
    """(mean, sample standard deviation; 0 for one value) of the values that are not None; None if none."""
    values = [v for v in values if v is not None]
    if not values:
        return None
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


MAIN_COLUMNS = ("R@1", "R@5", *SWAP_CATEGORIES, "all", "all (mean image)")
FIT_COLUMNS = tuple(f"train {c}" for c in FIT_CATEGORIES)


def table(rows, recipes, seeds, updates, columns=MAIN_COLUMNS):
    """A markdown table: per recipe, each column's mean ± spread over ``seeds``; ``rows[(recipe, seed)]``
    is a run's figures (``run_figures``)."""
    names = {"all": "swap all", "all (mean image)": "swap all, mean image"}
    lines = [f"| recipe ({updates} updates, seeds {', '.join(map(str, seeds))}) | "
             + " | ".join(names.get(c, c) for c in columns) + " |",
             "|---" * (len(columns) + 1) + "|"]
    for recipe in recipes:
        cells = []
        for column in columns:
            stat = mean_spread([rows.get((recipe, s), {}).get(column) for s in seeds])
            cells.append("" if stat is None or (isinstance(stat[0], float) and math.isnan(stat[0]))
                         else f"{stat[0]:.1f} ± {stat[1]:.1f}")
        lines.append(f"| {RECIPES[recipe][0]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    prepare(args)
    if args.prepare_only:
        return
    runs = [(recipe, seed) for seed in args.seeds for recipe in args.recipes]
    # --jobs trainings at once; each run's evaluation (one more single-threaded process) follows its training
    # while the next trainings go on
    with ThreadPoolExecutor(args.jobs) as trainers, ThreadPoolExecutor(1) as evaluator:
        trained_runs = [trainers.submit(train_one, args, *run) for run in runs]
        evaluated = [evaluator.submit(lambda t, run: (t.result(), evaluate_one(args, *run))[1], t, run)
                     for t, run in zip(trained_runs, runs)]
        rows = {run: e.result() for run, e in zip(runs, evaluated)}
    results = {f"{recipe}_seed{seed}": row for (recipe, seed), row in rows.items()}
    out = runs_dir(args)
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump({"updates": args.updates, "negatives": args.negatives, "runs": results}, f, indent=1)
    text = table(rows, args.recipes, args.seeds, args.updates)
    with open(os.path.join(out, "table.md"), "w") as f:
        f.write(text + "\n")
    print("zero-shot R@k on the test split (mean of image->text and text->image, chance 0.5 / 2.5); swap accuracy "
          "(%, chance 50) per category of the sample swap set; mean ± sample standard deviation over seeds")
    print(text)
    fit = table(rows, args.recipes, args.seeds, args.updates, FIT_COLUMNS)
    if not any(c in row for row in rows.values() for c in FIT_COLUMNS):
        fit = "(no diagnostic: run with --diagnostic)"
    with open(os.path.join(out, "table.md"), "a") as f:
        f.write("\n" + fit + "\n")
    print("diagnostic: accuracy (%) of telling a training image's caption from one of its own hard negatives, "
          "per level, and from another image's caption (in-batch), on 400 training images")
    print(fit)
    print("per run, the last logged CMCL training loss:")
    for (recipe, seed), row in rows.items():
        if "cmcl_loss" in row:
            chance = f" (chance {row['cmcl_chance']:.3f})" if "cmcl_chance" in row else ""
            print(f"  {recipe:<9} seed {seed}: {row['cmcl_loss']:.3f}{chance}")


if __name__ == "__main__":
    main()
