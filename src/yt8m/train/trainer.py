"""The training loop: the starter code's recipe in PyTorch, with checkpoints and resume.

One step, as the starter code's ``train.py`` does it: ``loss = CrossEntropyLoss(predictions,
labels) + regularization_penalty * l2_penalty * sum(w^2) / 2`` (see :mod:`.loss`), gradients
clipped per tensor to ``clip_gradient_norm`` (``tf.clip_by_norm``), TensorFlow's Adam
(:mod:`.optim`; beta1 0.9, beta2 0.999, epsilon 1e-8) at ``base_learning_rate *
learning_rate_decay ** floor(step * batch_size / learning_rate_decay_examples)``. Batch norm uses
batch statistics while training and moves its averages by ``1 - batch_norm_decay``.

``MODEL_DIR`` receives the native model (``classifier.json`` + ``model.safetensors``,
rewritten at every checkpoint and at the end, atomically), ``metrics.jsonl`` (one JSON
object per line: ``"kind": "train"`` lines with the loss, learning rate and examples/s,
``"kind": "validation"`` lines with GAP@20, mAP, Hit@1 and PERR) and
``checkpoint/state.pt`` (model, optimiser, step, epoch, data position and RNG state)
with ``checkpoint/train.json`` (the options). ``resume`` continues from the checkpoint:
the data stream skips the batches already used, so with the same ``workers`` a resumed
run ends with the weights an uninterrupted one would have.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import logging
import math
import re
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from yt8m._files import atomic_write
from yt8m.errors import InputError, Yt8mError
from yt8m.inference.classifiers.loader import CONFIG_FILE, save_native
from yt8m.inference.classifiers.native import FAMILIES, BatchNorm, NativeModel, build_model
from yt8m.inference.metrics import VideoMetrics
from yt8m.train.data import MAX_FRAMES, Batch, ShardDataset, check_first_record, expand_shards, make_loader
from yt8m.train.loss import cross_entropy_loss, l2_regularization
from yt8m.train.optim import TFAdam
from yt8m.train.recipes import RECIPES, VIDEO_LEVEL

log = logging.getLogger(__name__)

Precision = Literal["float32", "bfloat16", "float16"]
CHECKPOINT_DIR = "checkpoint"
STATE_FILE = "state.pt"
OPTIONS_FILE = "train.json"
METRICS_FILE = "metrics.jsonl"
#: Videos per metrics batch (eval.py's default --batch_size), as ``yt8m eval``.
EVAL_BATCH = 1024
#: Options that must not change when a run is resumed.
_FIXED_ON_RESUME = ("family", "model_options", "num_classes", "level", "features", "max_frames", "batch_size",
                    "seed", "shuffle_buffer", "train_shards")


@dataclass
class TrainOptions:
    """Everything ``yt8m train`` can set; ``None`` means the family's recipe (:mod:`.recipes`)."""

    train_shards: list[str]
    family: str
    output: str
    validate_shards: list[str] = field(default_factory=list)
    model_options: dict[str, Any] = field(default_factory=dict)
    num_classes: int = 3862
    level: Literal["frame", "video"] | None = None  #: default: video for logistic/moe, else frame
    features: str = "rgb,audio"
    max_frames: int = MAX_FRAMES
    batch_size: int | None = None
    base_learning_rate: float | None = None
    learning_rate_decay: float | None = None
    learning_rate_decay_examples: int | None = None
    clip_gradient_norm: float | None = None
    regularization_penalty: float | None = None
    l2_penalty: float | None = None
    batch_norm_decay: float = 0.999
    epochs: int | None = None
    max_steps: int | None = None
    checkpoint_every: int = 1000
    validate_every: int | None = None  #: default: at every checkpoint
    log_every: int = 100
    shuffle_buffer: int = 4096
    workers: int = 1
    seed: int = 0
    device: str = "cpu"
    precision: Precision = "float32"
    resume: bool = False
    progress: bool | None = None  #: None: a bar on a terminal only

    def resolved(self) -> TrainOptions:
        """These options with every ``None`` replaced by the family's recipe."""
        if self.family not in FAMILIES:
            raise InputError(f"Invalid model family ({self.family!r}). Supported values are "
                             f"{', '.join(FAMILIES)}.")
        recipe = dataclasses.asdict(RECIPES[self.family])
        values = {k: (recipe[k] if v is None and k in recipe else v) for k,
                  v in dataclasses.asdict(self).items()}
        if values["level"] is None:
            values["level"] = "video" if self.family in VIDEO_LEVEL else "frame"
        if values["validate_every"] is None:
            values["validate_every"] = self.checkpoint_every
        return TrainOptions(**values)


@dataclass
class TrainResult:
    output: Path
    steps: int
    examples: int
    epochs_done: int
    examples_per_s: float
    last_loss: float | None
    validation: dict[str, Any] | None


def _check(options: TrainOptions) -> None:
    positive = {"num_classes": options.num_classes, "batch_size": options.batch_size,
                "epochs": options.epochs,
                "checkpoint_every": options.checkpoint_every, "validate_every": options.validate_every,
                "log_every": options.log_every, "max_frames": options.max_frames,
                "learning_rate_decay_examples": options.learning_rate_decay_examples}
    for name, value in positive.items():
        if value is None or value < 1:
            raise InputError(f"--{name.replace('_', '-')} ({value}) must be >= 1")
    if options.max_steps is not None and options.max_steps < 1:
        raise InputError(f"--max-steps ({options.max_steps}) must be >= 1")
    if options.workers < 0:
        raise InputError(f"--workers ({options.workers}) must be >= 0")
    if not 0 <= options.batch_norm_decay < 1:
        raise InputError(f"--batch-norm-decay ({options.batch_norm_decay}) must be in [0, 1)")
    # A video-level family over frames averages them first, as at inference.
    if options.family not in VIDEO_LEVEL and options.level == "video":
        raise InputError(f"--model {options.family} is a frame-level family; "
                         "it cannot train on --level video")
    if options.precision not in ("float32", "bfloat16", "float16"):
        raise InputError(f"Invalid precision ({options.precision!r}). Supported values are float32, "
                         f"bfloat16, float16.")


def _device(name: str) -> torch.device:
    try:
        device = torch.device(name)
    except RuntimeError:
        raise InputError(f"Invalid device ({name!r}). Supported values are cpu, cuda, cuda:N, mps.") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device {name!r} was asked for, but PyTorch sees no CUDA device here")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise InputError(f"device {name!r} was asked for, but PyTorch sees no MPS device here")
    return device


def _autocast(device: torch.device, precision: Precision) -> contextlib.AbstractContextManager[Any]:
    if precision == "float32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bfloat16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def build_training_model(options: TrainOptions, feature_size: int) -> NativeModel:
    """A freshly initialised model of ``options.family``, set up for training."""
    extra = dict(options.model_options)
    if options.features != "rgb,audio":
        extra["input_features"] = options.features
    try:
        model = build_model(options.family, num_classes=options.num_classes, feature_size=feature_size,
                            seed=options.seed, **extra)
    except ValueError as exc:
        raise InputError(f"--model {options.family}: {exc}") from None
    for _, parameter in model.trainable_parameters():
        parameter.requires_grad_(True)
    for module in model.modules():
        if isinstance(module, BatchNorm):
            module.decay = options.batch_norm_decay
    return model


def learning_rate(options: TrainOptions, step: int) -> float:
    """``tf.train.exponential_decay(base, step * batch_size, decay_examples, decay, staircase=True)``."""
    assert options.base_learning_rate is not None and options.learning_rate_decay is not None
    assert options.batch_size is not None and options.learning_rate_decay_examples is not None
    return options.base_learning_rate * options.learning_rate_decay ** math.floor(
        step * options.batch_size / options.learning_rate_decay_examples)


@torch.no_grad()
def clip_by_norm(parameters: list[torch.nn.Parameter], max_norm: float) -> None:
    """``utils.clip_gradient_norms``: each gradient ``g * max_norm / max(|g|, max_norm)``."""
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads or max_norm <= 0:
        return
    norms = torch._foreach_norm(grads)
    scales = [max_norm / torch.clamp(n, min=max_norm) for n in norms]
    torch._foreach_mul_(grads, scales)


def _worker_error(exc: BaseException) -> Yt8mError | None:
    """The one-line yt8m error a DataLoader worker raised, from the traceback text torch wraps it in."""
    text = str(exc)
    if "DataLoader worker" not in text and "Original Traceback" not in text:
        return None
    found = re.findall(r"^yt8m\.errors\.(\w+): (.*)$", text, flags=re.MULTILINE)
    if not found:
        return None
    return InputError(found[-1][1])


def _batches(loader: Any, device: torch.device) -> Iterator[Batch]:
    try:
        for batch in loader:
            yield batch.to(device)
    except Yt8mError as exc:
        raise (_worker_error(exc) or exc) from None
    except RuntimeError as exc:
        error = _worker_error(exc)
        if error is None:
            raise
        raise error from None


class _MetricsLog:
    """``metrics.jsonl``, appended line by line (flushed; a crash loses at most a partial line)."""

    def __init__(self, path: Path, *, keep_until_step: int | None) -> None:
        self.path = path
        if keep_until_step is not None and path.is_file():  # resumed: drop lines after the checkpoint
            kept = []
            for line in path.read_text(encoding="utf-8").splitlines():
                with contextlib.suppress(ValueError):
                    if json.loads(line).get("step", 0) <= keep_until_step:
                        kept.append(line)
            with atomic_write(path) as handle:
                handle.write("".join(line + "\n" for line in kept).encode())
        elif keep_until_step is None:
            with atomic_write(path) as handle:
                handle.write(b"")
        self.handle = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed by close()

    def write(self, record: dict[str, Any]) -> None:
        self.handle.write(json.dumps(record) + "\n")
        self.handle.flush()

    def close(self) -> None:
        self.handle.close()


def validate(model: NativeModel, dataset: ShardDataset, *, batch_size: int, workers: int,
             device: torch.device, precision: Precision) -> dict[str, Any]:
    """``yt8m eval``'s video-level metrics of ``model`` (eval mode) on ``dataset``."""
    was_training = model.training
    model.eval()
    metrics = VideoMetrics(model.num_classes)
    scores: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    pending = 0
    with torch.no_grad():
        for batch in _batches(make_loader(dataset, batch_size=batch_size, workers=workers,
                                          device=device), device):
            with _autocast(device, precision):
                p = model.forward_selected(batch.features, batch.num_frames)
            scores.append(p.float().cpu().numpy())
            labels.append(batch.labels.cpu().numpy())
            pending += len(batch)
            while pending >= EVAL_BATCH:
                s, a = np.concatenate(scores), np.concatenate(labels)
                metrics.accumulate(s[:EVAL_BATCH], a[:EVAL_BATCH])
                scores, labels = [s[EVAL_BATCH:]], [a[EVAL_BATCH:]]
                pending -= EVAL_BATCH
    if pending:
        metrics.accumulate(np.concatenate(scores), np.concatenate(labels))
    model.train(was_training)
    if metrics.num_videos == 0:
        raise InputError("the validation shards hold no videos")
    return metrics.results()


def _save_state(directory: Path, state: dict[str, Any]) -> None:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    with atomic_write(directory / STATE_FILE) as handle:
        handle.write(buffer.getvalue())


def _options_json(options: TrainOptions) -> dict[str, Any]:
    values = dataclasses.asdict(options)
    values["train_shards"] = [str(p) for p in values["train_shards"]]
    values["validate_shards"] = [str(p) for p in values["validate_shards"]]
    return values


def _check_resume(saved: dict[str, Any], options: TrainOptions, where: Path) -> None:
    now = _options_json(options)
    changed = [k for k in _FIXED_ON_RESUME if saved.get(k) != now.get(k)]
    if changed:
        detail = "; ".join(f"{k}: {saved.get(k)!r} then, {now.get(k)!r} now" for k in changed[:3])
        raise InputError(f"{where}: --resume needs the options of the checkpointed run ({detail})")


def train(options: TrainOptions) -> TrainResult:
    """Train a model as ``options`` say; return where it is and how training went."""
    options = options.resolved()
    _check(options)
    assert options.batch_size is not None and options.epochs is not None
    device = _device(options.device)
    if options.precision == "float16" and device.type != "cuda":
        raise InputError("--precision float16 needs a CUDA device (use bfloat16 on CPU)")
    train_files = expand_shards(options.train_shards)
    validate_files = expand_shards(options.validate_shards) if options.validate_shards else []
    check_first_record(train_files)
    check_first_record(validate_files)
    options.train_shards = [str(p) for p in train_files]
    options.validate_shards = [str(p) for p in validate_files]
    assert options.level is not None
    out = Path(options.output)
    checkpoint_dir = out / CHECKPOINT_DIR
    has_checkpoint = (checkpoint_dir / STATE_FILE).is_file()
    if options.resume and not has_checkpoint:
        raise InputError(f"{checkpoint_dir / STATE_FILE}: no checkpoint to resume from")
    if not options.resume and (has_checkpoint or (out / CONFIG_FILE).is_file()):
        raise InputError(f"{out}: already holds a model or checkpoint; pass --resume to continue it, or "
                         f"choose another output directory")
    dataset = ShardDataset(train_files, level=options.level, features=options.features,
                           num_classes=options.num_classes, max_frames=options.max_frames,
                           shuffle_buffer=options.shuffle_buffer, seed=options.seed)
    validation = (ShardDataset(validate_files, level=options.level, features=options.features,
                               num_classes=options.num_classes, max_frames=options.max_frames)
                  if validate_files else None)
    model = build_training_model(options, dataset.feature_size).to(device)
    params = [p for _, p in model.trainable_parameters()]
    optimizer = TFAdam(params, lr=learning_rate(options, 0), betas=(0.9, 0.999), eps=1e-8)
    scaler = torch.amp.GradScaler(device.type, enabled=options.precision == "float16")
    step = epoch = batches_in_epoch = examples = 0
    torch.manual_seed(options.seed)  # frame sampling and dropout draw from torch's global RNG
    if options.resume:
        try:
            saved_options = json.loads((checkpoint_dir / OPTIONS_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(f"{checkpoint_dir / OPTIONS_FILE}: unreadable ({exc})") from None
        _check_resume(saved_options, options, checkpoint_dir / OPTIONS_FILE)
        try:
            state = torch.load(checkpoint_dir / STATE_FILE, map_location=device, weights_only=False)
        except Exception as exc:  # noqa: BLE001 - any unpickling problem is a damaged file
            raise InputError(f"{checkpoint_dir / STATE_FILE}: unreadable checkpoint ({exc})") from None
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scaler.load_state_dict(state["scaler"])
        step, epoch, batches_in_epoch, examples = (state["step"], state["epoch"], state["batches_in_epoch"],
                                                   state["examples"])
        torch.set_rng_state(state["torch_rng"].cpu())
        if device.type == "cuda" and state.get("cuda_rng") is not None:
            torch.cuda.set_rng_state(state["cuda_rng"].cpu(), device)
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    with atomic_write(checkpoint_dir / OPTIONS_FILE) as handle:
        handle.write((json.dumps(_options_json(options), indent=2) + "\n").encode())
    metrics_log = _MetricsLog(out / METRICS_FILE, keep_until_step=step if options.resume else None)

    def checkpoint() -> None:
        model_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        _save_state(checkpoint_dir, {
            "step": step, "epoch": epoch, "batches_in_epoch": batches_in_epoch, "examples": examples,
            "model": model_state, "optimizer": optimizer.state_dict(), "scaler": scaler.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state(device) if device.type == "cuda" else None})
        save_native(model, out)

    last_validation: dict[str, Any] | None = None

    def run_validation() -> None:
        nonlocal last_validation
        if validation is None:
            return
        results = validate(model, validation, batch_size=max(options.batch_size or 1, 256),
                           workers=min(options.workers, len(validate_files)), device=device,
                           precision=options.precision)
        last_validation = {"kind": "validation", "step": step, "examples": examples, **results}
        metrics_log.write(last_validation)
        log.info("step %d: validation %s", step, json.dumps(results))

    from tqdm import tqdm

    disable = None if options.progress is None else not options.progress
    bar = tqdm(total=options.max_steps, initial=step, unit="step", disable=disable, dynamic_ncols=True,
               file=sys.stderr, desc=f"train {options.family}")
    model.train()
    train_seconds = 0.0
    trained_examples = 0
    window_loss, window_count, window_examples, window_start = 0.0, 0, 0, time.perf_counter()
    last_loss: float | None = None
    clip = options.clip_gradient_norm or 0.0
    l2 = (options.regularization_penalty or 0.0) * (options.l2_penalty or 0.0)
    done = options.max_steps is not None and step >= options.max_steps
    try:
        while not done and epoch < options.epochs:
            dataset.set_epoch(epoch)
            loader = make_loader(dataset, batch_size=options.batch_size, workers=options.workers,
                                 device=device)
            batches = _batches(loader, device)
            for _ in range(batches_in_epoch):  # resumed mid-epoch: the batches already used
                if next(batches, None) is None:
                    break
            started = time.perf_counter()
            for batch in batches:
                for group in optimizer.param_groups:
                    group["lr"] = learning_rate(options, step)
                with _autocast(device, options.precision):
                    predictions = model.forward_selected(batch.features, batch.num_frames)
                label_loss = cross_entropy_loss(predictions, batch.labels)
                loss = label_loss + l2_regularization(model.regularized_weights(), l2) if l2 else label_loss
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.unscale_(optimizer)
                clip_by_norm(params, clip)
                scaler.step(optimizer)
                scaler.update()
                step += 1
                batches_in_epoch += 1
                examples += len(batch)
                trained_examples += len(batch)
                last_loss = float(label_loss.detach())
                if not math.isfinite(last_loss):
                    raise Yt8mError(f"step {step}: the loss is {last_loss}; try a lower --learning-rate")
                window_loss += last_loss
                window_count += 1
                window_examples += len(batch)
                now = time.perf_counter()
                train_seconds += now - started
                rate = trained_examples / train_seconds if train_seconds > 0 else 0.0
                bar.update(1)
                bar.set_postfix(loss=f"{last_loss:.4f}", ex_s=f"{rate:.0f}", epoch=epoch, refresh=False)
                if step % options.log_every == 0:
                    metrics_log.write({"kind": "train", "step": step, "epoch": epoch, "examples": examples,
                                       "loss": window_loss / window_count, "learning_rate": learning_rate(
                                           options, step - 1),
                                       "examples_per_s": window_examples / max(now - window_start, 1e-9)})
                    window_loss, window_count, window_examples, window_start = 0.0, 0, 0, time.perf_counter()
                done = options.max_steps is not None and step >= options.max_steps
                if step % options.checkpoint_every == 0 and not done:
                    checkpoint()
                if step % (options.validate_every or options.checkpoint_every) == 0 and not done:
                    run_validation()
                if done:
                    break
                started = time.perf_counter()
            else:
                epoch += 1
                batches_in_epoch = 0
        checkpoint()
        if last_validation is None or last_validation["step"] != step:
            run_validation()
    finally:
        bar.close()
        metrics_log.close()
    return TrainResult(output=out, steps=step, examples=examples, epochs_done=epoch,
                       examples_per_s=trained_examples / train_seconds if train_seconds > 0 else 0.0,
                       last_loss=last_loss, validation=last_validation)
