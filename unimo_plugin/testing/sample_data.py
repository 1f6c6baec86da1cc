"""The bundled sample dataset (``unimo-make-sample-data``): everything ``--task unimo_pretrain`` reads,
synthetic, deterministic and made offline in minutes; what the demo trains on and the sample-data tests
and benchmarks read.

Stage 1 writes the raw files (:func:`write_raw`): rendered scenes of coloured shapes
(sample_scenes.py) with compositional captions and ground-truth boxes, image-only scenes, a text corpus
of the same language and a few photographs shipped inside scikit-image. They depend on the content
options only (:func:`content_options`): each split draws from its own random stream, so more train
scenes never change the valid ones, and the worker count changes nothing. The later stages
(:func:`plan`) run the project's real commands on them, each as its own process as a user would run
it, so the sample also tests them. A stage is complete iff its output's manifest exists: :func:`build`
resumes an interrupted build and skips finished stages.
"""
import filecmp
import json
import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from typing import List, NamedTuple, Tuple

import numpy as np
from PIL import Image
from tqdm import tqdm

from ..common.artifacts import atomic_output, is_complete, read_manifest, write_manifest
from ..common.parallel import batched, ordered_map
from .sample_scenes import captions, render_scene, sample_scene, text_document

# Where this copy of the plugin is imported from: the commands' processes import the same one.
PLUGIN_PARENT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Independent random streams, so that e.g. more train scenes never change the valid scenes.
STREAMS = {("scenes", "train"): 0, ("scenes", "valid"): 1, ("scenes", "test"): 2,
           ("images", "train"): 3, ("images", "valid"): 4, ("text", "train"): 5, ("text", "valid"): 6}
SCENE_SPLITS, IMAGE_SPLITS, TEXT_SPLITS = ("train", "valid", "test"), ("train", "valid"), ("train", "valid")
KARPATHY_SPLIT = {"train": "train", "valid": "val", "test": "test"}
DETECTOR = ["--random-init", "--backbone", "resnet18", "--dtype", "float16"]
# Photos are detected, not given boxes: bottom-up-attention's 10..36 regions, fewer proposals for speed.
PHOTO_DETECTOR = ["--min-size", "224", "--max-size", "384", "--proposals", "100", "--min-boxes", "10",
                  "--max-boxes", "36"]
PHOTO_SIDE = 512  # photos are stored downscaled to this longest side

# scikit-image's bundled photographs (they load without a download) and captions written for them.
PHOTOS = {
    "astronaut": ["a smiling astronaut in an orange space suit in front of an american flag.",
                  "a woman in an orange suit holds a white helmet.",
                  "an astronaut portrait with a model of the space shuttle behind her."],
    "coffee": ["a red cup of coffee on a red saucer on a wooden table.",
               "a cup of espresso with a silver spoon on the saucer.",
               "a coffee cup seen from above on a dark wooden table."],
    "chelsea": ["a close up of a tabby cat with green eyes.",
                "the face of a striped cat looking to the side.",
                "a cat with long white whiskers and a pink nose."],
    "rocket": ["a white rocket on a launch pad at dusk.",
               "a rocket stands between tall metal towers under a blue evening sky.",
               "bright lights shine around a launch pad at night."],
    "camera": ["a black and white photo of a man with a camera on a tripod.",
               "a man in a dark coat looks through a camera on a lawn.",
               "a photographer stands on the grass with buildings far behind him."],
    "coins": ["rows of old coins on a dark background.",
              "a black and white photo of twenty four ancient coins in four rows.",
              "many round silver coins laid out in a grid."],
    "stereo_motorcycle": ["a red motorcycle parked in a garage.",
                          "a red motorbike in front of metal shelves full of boxes.",
                          "a motorcycle with a black seat on a concrete floor."],
    "hubble_deep_field": ["many small galaxies on a black sky.",
                          "a deep field image of distant stars and galaxies.",
                          "tiny colorful lights scattered across dark space."],
    "page": ["a photo of a printed page of text.",
             "a page with the heading region-based segmentation and a line of code.",
             "black text on a white page in a book."],
    "retina": ["a photo of the retina at the back of a human eye.",
               "an orange disc with dark red blood vessels branching across it.",
               "a round image of an eye with a bright spot on the left."],
}


# ---- stage 1: the raw files -------------------------------------------------------------------

def _render(job):
    """Render one scene to ``job["path"]``; return its record (captions only for captioned corpora)."""
    rng = np.random.default_rng([job["seed"], job["stream"], job["index"]])
    scene = sample_scene(rng, job["image_size"], job["max_objects"])
    render_scene(scene, rng).save(job["path"], format="PNG")
    record = {"id": job["id"], "objects": [obj._asdict() for obj in scene.objects]}
    if job["captions"]:
        record["captions"] = captions(scene, rng, job["captions"])
    return record


def _render_batch(jobs):
    return [_render(job) for job in jobs]


def render_corpus(root, corpus, split, count, opts, workers, progress):
    """Render ``count`` scenes into ``root/corpus/split/``; return their records in order."""
    folder = os.path.join(root, corpus, split)
    os.makedirs(folder)
    prefix = "scene" if corpus == "scenes" else "image"
    jobs = [dict(id=f"{prefix}_{split}_{k:06d}", index=k, stream=STREAMS[corpus, split], seed=opts["seed"],
                 image_size=opts["image_size"], max_objects=opts["max_objects"],
                 captions=opts["captions_per_image"] if corpus == "scenes" else 0,
                 path=os.path.join(folder, f"{prefix}_{split}_{k:06d}.png")) for k in range(count)]
    records = []
    with tqdm(total=count, desc=f"render {corpus}/{split}", unit="img", disable=not progress) as bar:
        for batch in ordered_map(_render_batch, batched(jobs, 64), workers):
            records.extend(batch)
            bar.update(len(batch))
    return records


def write_text_corpus(path, seed, split, num_docs, opts):
    """RoBERTa-format text: one sentence per line, a blank line between documents. Returns sentences."""
    sentences = 0
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for k in range(num_docs):
            rng = np.random.default_rng([seed, STREAMS["text", split], k])
            document = text_document(rng, opts["image_size"], opts["max_objects"])
            f.write(("\n" if k else "") + "\n".join(document) + "\n")
            sentences += len(document)
    return sentences


def load_photo(name):
    import skimage.data  # imported here: only the photo step needs it

    pixels = getattr(skimage.data, name)()
    if name == "stereo_motorcycle":  # a (left, right, disparity) triple
        pixels = pixels[0]
    image = Image.fromarray(pixels).convert("RGB")
    image.thumbnail((PHOTO_SIDE, PHOTO_SIDE), Image.Resampling.LANCZOS)
    return image


def write_captioned_scenes(root, opts, boxes, workers, progress):
    """Scenes with captions, per split: PNGs, ``captions/SPLIT.tsv`` (what unimo-binarize-captions reads) and
    ``dataset_sample.json`` (Karpathy style, with each scene's objects). Returns counts."""
    karpathy, counts, sentence_id = [], {}, 0
    os.makedirs(os.path.join(root, "captions"))
    for split, count in zip(SCENE_SPLITS, opts["scenes"]):
        records = render_corpus(root, "scenes", split, count, opts, workers, progress)
        with open(os.path.join(root, "captions", f"{split}.tsv"), "w", encoding="utf-8", newline="\n") as tsv:
            for record in records:
                image_id = record["id"]
                boxes[image_id] = [obj["box"] for obj in record["objects"]]
                sentences = []
                for text in record["captions"]:
                    tsv.write(f"{image_id}\t{text}\n")
                    sentences.append({"raw": text, "tokens": re.findall(r"[a-z]+", text), "imgid": len(karpathy),
                                      "sentid": sentence_id})
                    sentence_id += 1
                karpathy.append({"filepath": f"scenes/{split}", "filename": f"{image_id}.png", "imgid": len(karpathy),
                                 "image_id": image_id, "split": KARPATHY_SPLIT[split],
                                 "sentids": [s["sentid"] for s in sentences], "sentences": sentences,
                                 "objects": record["objects"]})
        counts[f"scenes_{split}"] = len(records)
        counts[f"captions_{split}"] = sum(len(r["captions"]) for r in records)
    with open(os.path.join(root, "dataset_sample.json"), "w", encoding="utf-8") as f:
        json.dump({"dataset": "unimo_sample", "images": karpathy}, f)
    return counts


def write_photos(root, count):
    """The first ``count`` bundled photographs as JPEGs and their captions as ``photo_captions.tsv``."""
    os.makedirs(os.path.join(root, "photos"))
    with open(os.path.join(root, "photo_captions.tsv"), "w", encoding="utf-8", newline="\n") as tsv:
        for name in list(PHOTOS)[:count]:
            load_photo(name).save(os.path.join(root, "photos", f"{name}.jpg"), quality=90)
            tsv.writelines(f"{name}\t{text}\n" for text in PHOTOS[name])


def write_raw(raw_dir, opts, workers=1, progress=True):
    """Write every raw file into ``raw_dir`` atomically, then its manifest; return the manifest.

    ``opts``: the content options (``content_options``); the result depends on them only, not on
    ``workers``.
    """
    with atomic_output(raw_dir) as tmp:
        os.makedirs(tmp)
        boxes = {}
        counts = write_captioned_scenes(tmp, opts, boxes, workers, progress)
        for split, count in zip(IMAGE_SPLITS, opts["image_only"]):
            for record in render_corpus(tmp, "images", split, count, opts, workers, progress):
                boxes[record["id"]] = [obj["box"] for obj in record["objects"]]
            counts[f"images_{split}"] = count
        with open(os.path.join(tmp, "boxes.json"), "w", encoding="utf-8") as f:
            json.dump(boxes, f)
        os.makedirs(os.path.join(tmp, "text"))
        for split, num_docs in zip(TEXT_SPLITS, opts["text_docs"]):
            path = os.path.join(tmp, "text", f"{split}.txt")
            counts[f"text_sentences_{split}"] = write_text_corpus(path, opts["seed"], split, num_docs, opts)
            counts[f"text_documents_{split}"] = num_docs
        if opts["photos"]:
            write_photos(tmp, opts["photos"])
        counts["photos"] = opts["photos"]
    return write_manifest(raw_dir, "unimo_sample_raw", counts=counts, options=opts)


# ---- steps 2..: the project's commands --------------------------------------------------------

class Step(NamedTuple):
    name: str  # "stage" or "stage/part"
    output: str  # the step is complete iff this output and its manifest exist
    command: List[str]
    after: Tuple[str, ...] = ()  # steps whose outputs it reads


def _command(name, *args):
    """The command line of command module ``name`` (unimo_plugin/cli/NAME.py)."""
    return [sys.executable, "-m", f"unimo_plugin.cli.{name}", *map(str, args)]


def plan(out, opts, workers, batch_size, progress):
    """The steps after ``raw``, in the order a sequential build runs them."""
    raw = os.path.join(out, "raw")
    bpe = ["--gpt2-encoder-json", os.path.join(out, "encoder.json"), "--gpt2-vocab-bpe", os.path.join(out, "vocab.bpe"),
           "--dict", os.path.join(out, "dict.txt"), "--workers", workers]
    detector = DETECTOR + ["--seed", opts["seed"], "--workers", workers] + ([] if progress else ["--no-progress"])
    scenes = detector + ["--boxes", os.path.join(raw, "boxes.json"), "--min-size", opts["image_size"],
                         "--max-size", opts["image_size"], "--batch-size", batch_size]
    pair_store, photo_store = os.path.join(out, "pair_regions"), os.path.join(out, "photos", "regions")
    steps = [Step("bpe", os.path.join(out, "bpe"), _command(
        "train_bpe", "--input", os.path.join(raw, "text", "train.txt"), "--output-dir", os.path.join(out, "bpe"),
        "--vocab-size", opts["bpe_vocab_size"], "--workers", workers))]
    steps += [Step(f"text/{split}", os.path.join(out, "text", f"{split}.bin"), _command(
        "binarize_text", "--input", os.path.join(raw, "text", f"{split}.txt"),
        "--output", os.path.join(out, "text", split), *bpe), ("bpe",)) for split in TEXT_SPLITS]
    steps += [Step(f"images/{split}", os.path.join(out, "images", split), _command(
        "extract_regions", os.path.join(raw, "images", split), "-o", os.path.join(out, "images", split), *scenes))
        for split in IMAGE_SPLITS]
    steps += [
        Step("pair_regions", pair_store, _command("extract_regions", os.path.join(raw, "scenes"), "-o", pair_store,
                                                  *scenes)),
        Step("pairs", os.path.join(out, "pairs"), _command(
            "binarize_captions", "--input", *[os.path.join(raw, "captions", f"{s}.tsv") for s in SCENE_SPLITS],
            "--format", "tsv", "--split", *SCENE_SPLITS, "--region-store", pair_store,
            "--output-dir", os.path.join(out, "pairs"), *bpe), ("bpe", "pair_regions")),
    ]
    if opts["photos"]:
        steps += [
            Step("photos/regions", photo_store, _command(
                "extract_regions", os.path.join(raw, "photos"), "-o", photo_store, *detector, *PHOTO_DETECTOR)),
            Step("photos/captions", os.path.join(out, "photos", "captions"), _command(
                "binarize_captions", "--input", os.path.join(raw, "photo_captions.tsv"), "--format", "tsv",
                "--split", "test", "--region-store", photo_store,
                "--output-dir", os.path.join(out, "photos", "captions"), *bpe), ("bpe", "photos/regions")),
        ]
    return steps


class StepFailed(RuntimeError):
    """A command of the build failed; the steps finished before it are kept."""


def run_step(step, log_dir):
    """Run one step's command; its output goes to the terminal, or to ``log_dir`` when steps run in parallel.

    Returns the seconds it took.
    """
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [PLUGIN_PARENT, os.environ.get("PYTHONPATH")])))
    print(f"[{step.name}] $ python {' '.join(step.command[1:])}", flush=True)
    t0 = time.time()
    if log_dir is None:
        code, where = subprocess.run(step.command, env=env).returncode, ""
    else:
        log = os.path.join(log_dir, step.name.replace("/", "_") + ".log")
        with open(log, "w") as f:
            code = subprocess.run(step.command, env=env, stdout=f, stderr=subprocess.STDOUT).returncode
        with open(log, errors="replace") as f:
            where = f"; its output ({log}) ends:\n" + "".join(f.readlines()[-20:])
    if code != 0:
        raise StepFailed(f"step {step.name} failed (exit {code}): {' '.join(step.command)}{where}\n(fix the cause "
                         f"and rerun the same command: finished steps are kept)")
    seconds = time.time() - t0
    print(f"[{step.name}] {seconds:.1f}s", flush=True)
    return seconds


def run_steps(steps, out, jobs):
    """Run the incomplete steps, up to ``jobs`` at once, each once the steps it reads are done.

    Returns ``{step name: seconds}`` of the steps run.
    """
    done = {step.name for step in steps if is_complete(step.output)}
    for name in sorted(done):
        print(f"[{name}] complete, skipped")
    if "bpe" in done:
        publish_bpe(out)
    log_dir = None if jobs == 1 else os.path.join(out, "logs")
    if log_dir:
        os.makedirs(log_dir, exist_ok=True)
    pending, running, seconds = [s for s in steps if s.name not in done], {}, {}
    with ThreadPoolExecutor(jobs) as pool:
        while pending or running:
            ready = [s for s in pending if set(s.after) <= done][:jobs - len(running)]
            for step in ready:
                pending.remove(step)
                running[pool.submit(run_step, step, log_dir)] = step
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                step = running.pop(future)
                seconds[step.name] = future.result()  # a failure propagates once the running steps end
                done.add(step.name)
                if step.name == "bpe":
                    publish_bpe(out)
    return seconds


def publish_bpe(out):
    """Copy the BPE files to OUT/, where the task and the scripts look for them, one atomic file at a time."""
    for name in ("dict.txt", "encoder.json", "vocab.bpe"):
        source, target = os.path.join(out, "bpe", name), os.path.join(out, name)
        if not (os.path.exists(target) and filecmp.cmp(source, target, shallow=False)):
            with atomic_output(target) as tmp:
                shutil.copyfile(source, tmp)


def content_options(seed, scenes, image_only, text_docs, photos, image_size, max_objects, captions_per_image,
                    bpe_vocab_size):
    """The options the data depends on: recorded, and compared when a build resumes."""
    return dict(seed=seed, scenes=list(scenes), image_only=list(image_only), text_docs=list(text_docs),
                photos=min(photos, len(PHOTOS)), image_size=image_size, max_objects=max_objects,
                captions_per_image=captions_per_image, bpe_vocab_size=bpe_vocab_size)


def build(out, opts, workers, batch_size, jobs, progress):
    """Build (or resume) ``out`` with content options ``opts`` (:func:`content_options`); write
    OUT.manifest.json when any step ran or it is missing.

    ``workers``: processes for rendering and for each command's per-item work; ``batch_size``: scene
    images per detector call; ``jobs``: commands run at once when their inputs are ready (above 1 their
    output goes to OUT/logs/). A ``out`` built with other content options is an error, not rebuilt.
    """
    out, t_start = os.path.abspath(out), time.time()
    raw = os.path.join(out, "raw")
    if is_complete(raw) and read_manifest(raw)["options"] != opts:
        old = read_manifest(raw)["options"]
        changed = ", ".join(f"--{k.replace('_', '-')} {old.get(k)} -> {opts[k]}" for k in opts if old.get(k) != opts[k])
        raise ValueError(f"{out} was built with other options ({changed}); use another --out or delete it")
    os.makedirs(out, exist_ok=True)
    seconds = {}
    if is_complete(raw):
        print("[raw] complete, skipped")
    else:
        write_raw(raw, opts, workers, progress)
        seconds["raw"] = time.time() - t_start
        print(f"[raw] {seconds['raw']:.1f}s")
    seconds.update(run_steps(plan(out, opts, workers, batch_size, progress), out, jobs))
    if seconds or not is_complete(out):
        layout = {"dictionary": "dict.txt", "bpe": ["encoder.json", "vocab.bpe"], "text": "text/{train,valid}",
                  "images": "images/{train,valid}/", "pairs": "pairs/{train,valid,test}",
                  "pair_regions": "pair_regions/", "raw": "raw/",
                  "photos": "photos/regions/, photos/captions/test" if opts["photos"] else None}
        write_manifest(out, "unimo_sample_data", seed=opts["seed"], options=opts, counts=read_manifest(raw)["counts"],
                       layout=layout, step_seconds={k: round(v, 1) for k, v in seconds.items()},
                       wall_seconds=round(time.time() - t_start, 1))
    print("step seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in seconds.items())
          + f"; wall {time.time() - t_start:.1f}s")
    print(f"{out}: ready for fairseq-train {out} --user-dir unimo_plugin --task unimo_pretrain ...")
