"""Training on several workers, through fairseq's own wrappers and trainer (2 CPU processes over gloo).

- ``pytorch_ddp``: the model wrapped as fairseq wraps it (``ModuleProxyWrapper(DistributedDataParallel)``,
  ``find_unused_parameters=False``; on the CPU ``device_ids=None``, which fairseq's wrapper cannot pass),
  every criterion of the project: after backward every gradient is the same on both workers and
  equals the single-process gradient.
- ``pytorch_ddp`` with adversarial training (``--adv-mode``), whose rounds but the last run under
  ``no_sync``: the same gradient as one process on the concatenated batch.
- ``legacy_ddp``: two real ``fairseq-train`` processes (``--distributed-no-spawn``, gloo, file init)
  end with the parameters of one process that reads the same global batches with ``--update-freq 2``.
"""
import math
import os
import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from unimo_plugin.testing import synthetic_corpora as pretrain_data
from unimo_plugin.testing.commands import REPO_ROOT, fairseq_bin
from unimo_plugin.testing.tiny_models import build_unimo, random_regions, random_text

WORKERS = 2


def _model(dictionary, heads=()):
    torch.manual_seed(0)
    model = build_unimo(dictionary, region_feature_dim=pretrain_data.FEATURE_DIM,
                        num_region_classes=pretrain_data.NUM_CLASSES, max_positions=128, dropout=0.0,
                        attention_dropout=0.0)
    for name, head in heads:
        model.register_classification_head(name, head)
    return model


def _pretrain_cases(data_dir):
    """(name, criterion, batch per worker, reference loss function of the plain model)."""
    from unimo_plugin.criterions.unimo_pretrain import UnimoPretrainCriterion, UnimoPretrainCriterionConfig
    from unimo_plugin.tasks.unimo_pretrain import UnimoPretrainConfig, UnimoPretrainTask

    task = UnimoPretrainTask.setup_task(UnimoPretrainConfig(data=data_dir, seed=2, train_subset="train",
                                                            update_freq=[1], tokens_per_sample=64))
    task.load_dataset("train")
    mix = task.datasets["train"]
    criterion = UnimoPretrainCriterion(UnimoPretrainCriterionConfig(), task)
    no_cmcl = UnimoPretrainCriterion(UnimoPretrainCriterionConfig(cmcl_weight=0.0), task)
    only_cmcl = UnimoPretrainCriterion(UnimoPretrainCriterionConfig(
        mlm_weight=0.0, seq2seq_weight=0.0, region_feature_weight=0.0, region_class_weight=0.0), task)
    cases = []
    for modality in ("text", "image", "pair"):
        samples = [mix[p] for p in range(len(mix)) if mix[p]["corpus"] == modality][: 4 * WORKERS]
        batches = [mix.collater(samples[4 * r: 4 * r + 4]) for r in range(WORKERS)]

        def reference(model, batches=batches, samples=samples, modality=modality):
            """Fairseq's gradient for one batch per worker: the mean of the workers' per-batch losses
            (each averages its own tokens and regions), the anchors of all workers in one CMCL loss."""
            loss = sum(no_cmcl(model, b)[0] for b in batches) / WORKERS
            if modality == "pair":  # equal anchors per worker: one CMCL mean over all of them
                loss = loss + only_cmcl(model, mix.collater(samples))[0]
            return loss

        cases.append((f"pretrain-{modality}", criterion, batches, reference, task.source_dictionary, ()))
    return cases


def _finetune_cases():
    """Sum-reduced fine-tuning losses: fairseq's gradient is that of the concatenated batch."""
    from fairseq.criterions.label_smoothed_cross_entropy import LabelSmoothedCrossEntropyCriterion

    from unimo_plugin.criterions.unimo_classification import UnimoClassificationCriterion
    from unimo_plugin.criterions.unimo_retrieval import UnimoRetrievalCriterion, UnimoRetrievalCriterionConfig
    from unimo_plugin.criterions.unimo_soft_bce import UnimoSoftBceCriterion
    from unimo_plugin.models.cross_encoder import HEAD_NAME, retrieval_head
    from unimo_plugin.models.heads import ClassificationHead, PairClassificationHead

    d = pretrain_data.dictionary()
    d.add_symbol("<mask>")
    g = torch.Generator().manual_seed(3)
    dim, n = 32, 3 * WORKERS  # build_unimo's width; items of the concatenated batch

    def task(kind):
        return SimpleNamespace(target_kind=kind, cfg=SimpleNamespace(classification_head_name="head"),
                               source_dictionary=d, target_dictionary=d)

    def pair_batch(size, target=None):
        features, boxes = random_regions(size, 5, pretrain_data.FEATURE_DIM, g)
        tokens = random_text(d, [int(x) for x in torch.randint(4, 9, (size,), generator=g)], g)
        batch = {"net_input": {"src_tokens": tokens, "regions": features, "boxes": boxes,
                               "region_padding_mask": torch.zeros(size, 5, dtype=torch.bool)},
                 "ntokens": int(tokens.ne(d.pad()).sum()), "nsentences": size}
        if target is not None:
            batch["target"] = target
        return batch

    cases = []
    ve = pair_batch(n, torch.randint(0, 3, (n,), generator=g))
    cases.append(("classification (SNLI-VE)", UnimoClassificationCriterion(task("class")), ve,
                  [("head", PairClassificationHead(dim, dim, 3, dropout=0.0))]))
    glue = pair_batch(n, torch.randint(0, 2, (n,), generator=g))
    glue["net_input"] = {"src_tokens": glue["net_input"]["src_tokens"]}
    cases.append(("classification (GLUE)", UnimoClassificationCriterion(task("class")), glue,
                  [("head", ClassificationHead(dim, dim, 2, dropout=0.0))]))
    vqa = pair_batch(n, torch.rand(n, 7, generator=g) * (torch.rand(n, 7, generator=g) < 0.3))
    cases.append(("soft BCE (VQA)", UnimoSoftBceCriterion(task("soft")), vqa, [("head", PairClassificationHead(dim, dim, 7, dropout=0.0))]))
    group = 3  # positive + 2 negatives per caption
    retrieval = pair_batch(n * group)
    retrieval.update(num_candidates=group, num_wrong_images=1, image_rows=torch.arange(n), nsentences=n)
    criterion = UnimoRetrievalCriterion(UnimoRetrievalCriterionConfig(bi_encoder_weight=0.5), task(None))
    cases.append(("retrieval + gathered bi-encoder", criterion, retrieval, [(HEAD_NAME, retrieval_head(dim, 0.0))]))
    smoothed = LabelSmoothedCrossEntropyCriterion(task(None), sentence_avg=False, label_smoothing=0.1)
    for name, with_regions in (("label-smoothed CE (caption)", True), ("label-smoothed CE (seq2seq)", False)):
        batch = pair_batch(n)
        target = random_text(d, [6] * n, g)[:, 1:].contiguous()
        batch["net_input"]["prev_output_tokens"] = torch.cat([target[:, -1:], target[:, :-1]], 1)
        batch["target"] = target
        if not with_regions:
            for key in ("regions", "boxes", "region_padding_mask"):
                del batch["net_input"][key]
        cases.append((name, smoothed, batch, []))

    def split(batch, r, size):
        """Worker r's share of a concatenated batch (groups of ``size`` rows per item)."""
        items = len(batch["image_rows"]) if "image_rows" in batch else len(batch["net_input"]["src_tokens"])
        per = items // WORKERS
        rows = slice(r * per * size, (r + 1) * per * size)
        part = {key: value for key, value in batch.items()}
        part["net_input"] = {key: value[rows] for key, value in batch["net_input"].items()}
        for key in ("target",):
            if key in batch:
                part[key] = batch[key][r * per:(r + 1) * per]
        if "image_rows" in batch:
            part["image_rows"] = batch["image_rows"][r * per:(r + 1) * per]
        part["ntokens"] = int(part["net_input"]["src_tokens"].ne(d.pad()).sum())
        return part

    out = []
    for name, criterion, batch, heads in cases:
        size = batch.get("num_candidates", 1)
        parts = [split(batch, r, size) for r in range(WORKERS)]
        # pytorch DDP averages the workers' gradients; fairseq then divides by the summed sample size
        out.append((name, criterion, parts, lambda model, c=criterion, b=batch: c(model, b)[0] / WORKERS, d, heads))
    return out


def _adversarial_cases():
    """(name, task, criterion, one batch per worker, the concatenated batch, heads): VILLA's and FreeLB's
    steps (zero start, no dropout: each item's perturbation follows its own gradient only), whose
    gradient on two workers is that of the concatenated batch on one."""
    from fairseq.criterions.label_smoothed_cross_entropy import LabelSmoothedCrossEntropyCriterion

    from unimo_plugin.criterions.unimo_classification import UnimoClassificationCriterion
    from unimo_plugin.models.heads import SumFusionHead
    from unimo_plugin.tasks.adversarial import AdversarialConfig, AdversarialTask

    d = pretrain_data.dictionary()
    d.add_symbol("<mask>")
    g = torch.Generator().manual_seed(5)
    n = 3 * WORKERS
    features, boxes = random_regions(n, 5, pretrain_data.FEATURE_DIM, g)
    tokens = random_text(d, [int(x) for x in torch.randint(4, 9, (n,), generator=g)], g)
    net_input = {"src_tokens": tokens, "regions": features, "boxes": boxes,
                 "region_padding_mask": torch.zeros(n, 5, dtype=torch.bool)}
    ve = {"net_input": net_input, "target": torch.randint(0, 3, (n,), generator=g), "nsentences": n}
    target = random_text(d, [6] * n, g)[:, 1:].contiguous()
    caption = {"net_input": dict(net_input, prev_output_tokens=torch.cat([target[:, -1:], target[:, :-1]], 1)),
               "target": target, "nsentences": n}
    head = SimpleNamespace(target_kind="class", cfg=SimpleNamespace(classification_head_name="head"),
                           target_dictionary=d)
    options = dict(adv_steps=3, adv_lr=0.3, adv_init_mag=0.0, adv_max_norm=0.5)
    cases = [("VILLA (SNLI-VE)", AdversarialTask(AdversarialConfig(adv_mode="villa", **options), d),
              UnimoClassificationCriterion(head), ve, [("head", SumFusionHead(32, 16, 3, dropout=0.0))]),
             ("FreeLB text (caption)", AdversarialTask(AdversarialConfig(adv_mode="freelb_text", **options), d),
              LabelSmoothedCrossEntropyCriterion(head, sentence_avg=False, label_smoothing=0.1), caption, [])]
    out = []
    for name, task, criterion, batch, heads in cases:
        batch["ntokens"] = int(batch["target"].ne(d.pad()).sum()) if batch["target"].dim() == 2 else n
        parts = []
        for r in range(WORKERS):
            rows = slice(r * n // WORKERS, (r + 1) * n // WORKERS)
            part = {"net_input": {k: v[rows] for k, v in batch["net_input"].items()}, "target": batch["target"][rows],
                    "nsentences": n // WORKERS}
            part["ntokens"] = int(part["target"].ne(d.pad()).sum()) if part["target"].dim() == 2 else n // WORKERS
            parts.append(part)
        out.append((name, task, criterion, parts, batch, d, heads))
    return out


class _Backward:
    """What fairseq's optimizers do in ``backward``."""

    @staticmethod
    def backward(loss):
        loss.backward()


def _cases(data_dir):
    return _pretrain_cases(data_dir) + _finetune_cases()


def _ddp_worker(rank, init_file, data_dir, out_dir):
    from fairseq.distributed import ModuleProxyWrapper
    from torch.nn.parallel import DistributedDataParallel

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=WORKERS)
    grads = {}
    for name, criterion, batches, _, dictionary, heads in _cases(data_dir):
        model = _model(dictionary, heads).train()
        wrapped = ModuleProxyWrapper(DistributedDataParallel(model, device_ids=None, broadcast_buffers=False,
                                                             find_unused_parameters=False))
        for step in range(2):  # a second step fails if the first left a parameter without a gradient
            model.zero_grad()
            loss, _, _ = criterion(wrapped, batches[rank])
            loss.backward()
        grads[name] = {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}
        grads[name]["_missing"] = [k for k, p in model.named_parameters() if p.grad is None]
    for name, task, criterion, batches, _, dictionary, heads in _adversarial_cases():
        model = _model(dictionary, heads).train()
        wrapped = ModuleProxyWrapper(DistributedDataParallel(model, device_ids=None, broadcast_buffers=False,
                                                             find_unused_parameters=False))
        for step in range(2):  # rounds before the last run under no_sync: the last must synchronise them all
            model.zero_grad()
            task.train_step(batches[rank], wrapped, criterion, _Backward, update_num=step)
        grads[name] = {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}
        grads[name]["_missing"] = [k for k, p in model.named_parameters() if p.grad is None]
    torch.save(grads, os.path.join(out_dir, f"grads{rank}.pt"))
    dist.destroy_process_group()


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return pretrain_data.build(str(tmp_path_factory.mktemp("ddp") / "data"), pretrain_data.dictionary())


@pytest.mark.slow
def test_pytorch_ddp_synchronises_every_gradient_of_every_criterion(data_dir, tmp_path):
    mp.start_processes(_ddp_worker, args=(str(tmp_path / "init"), data_dir, str(tmp_path)), nprocs=WORKERS,
                       join=True, start_method="spawn")
    by_rank = [torch.load(tmp_path / f"grads{rank}.pt") for rank in range(WORKERS)]
    for name, _, _, reference, dictionary, heads in _cases(data_dir):
        model = _model(dictionary, heads).train()
        reference(model).backward()
        for rank in range(WORKERS):
            got = by_rank[rank][name]
            assert got["_missing"] == [], (name, got["_missing"])
            for key, param in model.named_parameters():
                want = param.grad if param.grad is not None else torch.zeros_like(param)
                torch.testing.assert_close(got[key], want, rtol=1e-4, atol=1e-5,
                                           msg=lambda m: f"{name}, worker {rank}, {key}: {m}")
        for key in by_rank[0][name]:
            if key != "_missing":
                assert torch.equal(by_rank[0][name][key], by_rank[1][name][key]), (name, key)
    for name, task, criterion, _, batch, dictionary, heads in _adversarial_cases():
        model = _model(dictionary, heads).train()
        task.train_step(batch, model, criterion, _Backward, update_num=0)
        for rank in range(WORKERS):
            got = by_rank[rank][name]
            assert got["_missing"] == [], (name, got["_missing"])
            for key, param in model.named_parameters():
                want = param.grad / WORKERS if param.grad is not None else torch.zeros_like(param)
                torch.testing.assert_close(got[key], want, rtol=1e-4, atol=1e-5,
                                           msg=lambda m: f"{name}, worker {rank}, {key}: {m}")


def _train_command(data, save_dir, *extra):
    return [
        fairseq_bin("fairseq-train"), data, "--user-dir", f"{REPO_ROOT}/unimo_plugin",
        "--task", "unimo_pretrain", "--arch", "unimo_tiny", "--criterion", "unimo_pretrain",
        "--region-feature-dim", str(pretrain_data.FEATURE_DIM), "--num-region-classes", str(pretrain_data.NUM_CLASSES),
        "--encoder-layers", "2", "--encoder-embed-dim", "64", "--encoder-ffn-embed-dim", "128",
        "--tokens-per-sample", "64", "--max-tokens", "1500", "--max-regions", "600",
        "--modality-ratios", "text:1,image:1,pair:2", "--optimizer", "adam", "--lr", "1e-3",
        "--lr-scheduler", "inverse_sqrt", "--warmup-updates", "5", "--dropout", "0.0", "--attention-dropout", "0.0",
        "--max-update", "30", "--log-format", "simple", "--log-interval", "1", "--cpu", "--seed", "7",
        "--save-dir", str(save_dir), "--no-epoch-checkpoints", "--num-workers", "0", *extra,
    ]


def _run_workers(command, init_file, timeout=300):
    """``command`` as worker 0 and 1 of a gloo group: fairseq's training main through distributed_main."""
    env = dict(os.environ, PYTHONPATH=REPO_ROOT)
    ranks = ["--distributed-world-size", str(WORKERS), "--distributed-no-spawn", "--distributed-backend", "gloo",
             "--distributed-init-method", f"file://{init_file}", "--distributed-rank"]
    procs = [subprocess.Popen(command + ranks + [str(r)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True) for r in range(WORKERS)]
    outputs = []
    for proc in procs:
        try:
            outputs.append(proc.communicate(timeout=timeout)[0])
        except subprocess.TimeoutExpired:
            for p in procs:
                p.kill()
            raise AssertionError("a worker hung: " + "".join(p.communicate()[0][-3000:] for p in procs))
    for proc, output in zip(procs, outputs):
        assert proc.returncode == 0, output[-4000:]
        assert "gradients are inconsistent" not in output
    return outputs[0]


def _parameters(save_dir):
    return torch.load(os.path.join(save_dir, "checkpoint_last.pt"), map_location="cpu", weights_only=False)["model"]


@pytest.mark.slow
def test_legacy_ddp_training_equals_one_process_reading_the_same_global_batches(data_dir, tmp_path):
    """With CMCL's weight at 0 the gather still runs (forward and backward) but only the other losses
    move the parameters: two workers must then end exactly where one process with --update-freq 2
    ends. With CMCL on they differ by design: two workers also treat each other's anchors as in-batch
    negatives, which one process reading the two batches one after the other cannot."""
    output = _run_workers(_train_command(data_dir, tmp_path / "two", "--ddp-backend", "legacy_ddp",
                                         "--cmcl-weight", "0"), tmp_path / "init0")
    assert "num_updates=30" in output
    subprocess.run(_train_command(data_dir, tmp_path / "one", "--update-freq", "2", "--cmcl-weight", "0"),
                   env=dict(os.environ, PYTHONPATH=REPO_ROOT), check=True, capture_output=True)
    two, one = _parameters(tmp_path / "two"), _parameters(tmp_path / "one")
    assert two.keys() == one.keys()
    for key in two:
        torch.testing.assert_close(two[key], one[key], rtol=0, atol=1e-6, msg=lambda m: f"{key}: {m}")

    output = _run_workers(_train_command(data_dir, tmp_path / "cmcl", "--ddp-backend", "legacy_ddp"),
                          tmp_path / "init1")
    cmcl = [float(v) for v in __import__("re").findall(r"cmcl_loss=([\d.]+)", output)]
    assert len(cmcl) >= 5 and all(math.isfinite(v) for v in cmcl)
    assert "valid on 'valid' subset" in output


@pytest.mark.slow
def test_legacy_ddp_adversarial_fine_tuning_equals_one_process(data_dir, tmp_path):
    """VILLA's rounds inside fairseq's trainer: two workers end where one process with --update-freq 2
    ends (a zero start and no dropout make each item's perturbation depend on its own gradient only)."""
    command = [
        fairseq_bin("fairseq-train"), data_dir, "--user-dir", f"{REPO_ROOT}/unimo_plugin", "--task", "unimo_caption",
        "--arch", "unimo_tiny", "--criterion", "label_smoothed_cross_entropy", "--label-smoothing", "0.1",
        "--region-feature-dim", str(pretrain_data.FEATURE_DIM), "--encoder-layers", "2", "--encoder-embed-dim", "64",
        "--encoder-ffn-embed-dim", "128", "--dropout", "0", "--attention-dropout", "0", "--optimizer", "adam",
        "--lr", "1e-3", "--lr-scheduler", "fixed", "--batch-size", "6", "--max-update", "6", "--cpu", "--seed", "3",
        "--num-workers", "0", "--no-epoch-checkpoints", "--disable-validation", "--log-format", "simple",
        "--adv-mode", "villa", "--adv-steps", "2", "--adv-init-mag", "0", "--adv-lr", "0.3",
    ]
    _run_workers(command + ["--save-dir", str(tmp_path / "two"), "--ddp-backend", "legacy_ddp"], tmp_path / "init")
    subprocess.run(command + ["--save-dir", str(tmp_path / "one"), "--update-freq", "2"],
                   env=dict(os.environ, PYTHONPATH=REPO_ROOT), check=True, capture_output=True)
    two, one = _parameters(tmp_path / "two"), _parameters(tmp_path / "one")
    for key in two:
        torch.testing.assert_close(two[key], one[key], rtol=0, atol=1e-6, msg=lambda m: f"{key}: {m}")
