"""The training loop: the starter code's recipe in PyTorch, with checkpoints and resume.

One step, as the starter code's ``train.py`` does it: ``loss = CrossEntropyLoss(predictions,
labels) + regularization_penalty * l2_penalty * sum(w^2) / 2`` (see :mod:`.loss`), gradients
clipped per tensor to ``clip_gradient_norm`` (``tf.clip_by_norm``), TensorFlow's Adam
(:mod:`.optim`; beta1 0.9, beta2 0.999, epsilon 1e-8) at ``base_learning_rate *
learning_rate_decay ** floor(step * batch_size / learning_rate_decay_examples)``. Batch norm
uses batch statistics while training and moves its averages by ``1 - batch_norm_decay``.

``MODEL_DIR`` receives the native model (``classifier.json`` + ``model.safetensors``,
rewritten at every checkpoint and at the end, atomically), ``metrics.jsonl`` (one JSON
object per line: ``"kind": "train"`` lines with the loss, learning rate and examples/s,
``"kind": "validation"`` lines with GAP@20, mAP, Hit@1 and PERR) and
``checkpoint/state.pt`` (model, optimiser, step, epoch, data position and RNG state)
with ``checkpoint/train.json`` (the options). ``resume`` continues from the checkpoint:
the data stream skips the batches already used, so with the same ``workers`` a resumed
run ends with the weights an uninterrupted one would have.

Several processes (``torchrun --nproc_per_node N -m yt8m train ...``; ``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK`` in the environment) train one model with
``DistributedDataParallel``: gloo on CPU, nccl on CUDA (one GPU per process,
``cuda:LOCAL_RANK``). ``batch_size`` stays the examples of one step, split evenly across
the processes; each process reads its own share of the shards; the gradient each
process applies is the mean over the whole step's batch. Only rank 0 writes the model,
checkpoints, ``metrics.jsonl`` and the progress bar, and validates.

``segment_labels`` fine-tunes on the 2019 segment ratings (see :mod:`.data`): the loss
counts only each segment's rated class, and validation adds the segment MAP that
``yt8m eval`` computes. ``init`` starts from the weights of an existing native model.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import gc
import io
import json
import logging
import math
import os
import platform
import re
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.distributed as torch_dist

from yt8m._files import atomic_write
from yt8m.errors import InputError, Yt8mError
from yt8m.inference.classifiers.loader import CONFIG_FILE, load_native, read_native_config, save_native
from yt8m.inference.classifiers.native import FAMILIES, BatchNorm, NativeClassifier, NativeModel, build_model
from yt8m.inference.metrics import VideoMetrics
from yt8m.train.data import MAX_FRAMES, Batch, ShardDataset, check_first_record, expand_shards, make_loader
from yt8m.train.loss import add_l2_gradient, cross_entropy_loss
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
                    "seed", "shuffle_buffer", "train_shards", "segment_labels", "init")
#: How long a process waits for the others at a collective (rank 0 validates while they wait).
DISTRIBUTED_TIMEOUT = timedelta(hours=2)
_DEFAULT_FEATURES = "rgb,audio"
_DEFAULT_CLASSES = 3862


@dataclass
class TrainOptions:
    """Everything ``yt8m train`` can set; ``None`` means the family's recipe (:mod:`.recipes`)."""

    train_shards: list[str]
    family: str
    output: str
    validate_shards: list[str] = field(default_factory=list)
    model_options: dict[str, Any] = field(default_factory=dict)
    num_classes: int | None = None  #: default: the --init model's, else 3862
    level: Literal["frame", "video"] | None = None  #: default: video for logistic/moe, else frame
    features: str | None = None  #: default: the --init model's, else rgb,audio
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
    init: str | None = None  #: start from this native model's weights (its family, sizes, classes)
    segment_labels: bool = False  #: train on the 2019 rated 5 s segments, their rated class only

    def resolved(self) -> TrainOptions:
        """These options with every ``None`` replaced by the family's recipe (or the ``init`` model's)."""
        current = dataclasses.asdict(self)
        if self.init is not None:
            current.update(_init_options(self))
        family = current["family"]
        if family not in FAMILIES:
            raise InputError(f"Invalid model family ({family!r}). "
                             f"Supported values are {', '.join(FAMILIES)}.")
        recipe = dataclasses.asdict(RECIPES[family])
        values = {k: (recipe[k] if v is None and k in recipe else v) for k, v in current.items()}
        if values["num_classes"] is None:
            values["num_classes"] = _DEFAULT_CLASSES
        if values["features"] is None:
            values["features"] = _DEFAULT_FEATURES
        if values["level"] is None:
            values["level"] = "video" if family in VIDEO_LEVEL else "frame"
        if values["validate_every"] is None:
            values["validate_every"] = self.checkpoint_every
        return TrainOptions(**values)


def _init_options(options: TrainOptions) -> dict[str, Any]:
    """The family, sizes, classes and features of the ``--init`` model; what the options said must agree."""
    assert options.init is not None
    config = read_native_config(Path(options.init))
    where = f"--init {options.init}"
    family = config["family"]
    sizes = {k: v for k, v in config.items()
             if k not in ("format", "format_version", "family", "num_classes", "feature_size",
                          "input_features")}
    features = config.get("input_features") or _DEFAULT_FEATURES
    if options.family and options.family != family:
        raise InputError(f"{where} holds a {family} model, not --model {options.family}")
    if options.num_classes is not None and options.num_classes != config["num_classes"]:
        raise InputError(f"{where} has {config['num_classes']} classes, not --num-classes "
                         f"{options.num_classes}")
    if options.features is not None and options.features != features:
        raise InputError(f"{where} was trained on --features {features}, not {options.features}")
    changed = [k for k, v in options.model_options.items() if sizes.get(k) != v]
    if changed:
        raise InputError(f"{where}: --model-option {changed[0]} differs from the model's "
                         f"({sizes.get(changed[0])!r}); an --init model keeps its sizes")
    return {"family": family, "model_options": sizes, "num_classes": config["num_classes"],
            "features": features,
            "init": str(options.init)}


@dataclass
class TrainResult:
    output: Path
    steps: int
    examples: int
    epochs_done: int
    examples_per_s: float
    last_loss: float | None
    validation: dict[str, Any] | None
    rank: int = 0  #: this process's rank (only rank 0 wrote anything)
    world_size: int = 1


@dataclass
class _Distributed:
    """This process's place among the training processes (one process: rank 0 of 1)."""

    rank: int = 0
    world_size: int = 1
    owns_group: bool = False

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.enabled:
            torch_dist.barrier()

    def finish(self) -> None:
        """After a successful run: free what still holds the group, then wait for every process.

        The DistributedDataParallel wrapper's reducer holds the process group and may sit in
        a reference cycle; left to interpreter shutdown, gloo's threads were destroyed while
        still joinable (``terminate called without an active exception``, SIGABRT). The
        barrier keeps any process from tearing its connections down while another one is
        still in its last collective.
        """
        if self.enabled:
            gc.collect()
            torch_dist.barrier()

    def close(self) -> None:
        if self.owns_group and torch_dist.is_initialized():
            torch_dist.destroy_process_group()


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise InputError(f"${name} ({raw!r}) must be an integer (set by torchrun)") from None


def _start_distributed(device: torch.device) -> tuple[_Distributed, torch.device]:
    """Join the process group torchrun describes in the environment (none: one process)."""
    world = _env_int("WORLD_SIZE", 1)
    if world <= 1:
        return _Distributed(), device
    rank = _env_int("RANK", 0)
    local = _env_int("LOCAL_RANK", rank)
    if device.type == "cuda":
        if local >= torch.cuda.device_count():
            raise InputError(f"process {rank} (local rank {local}) has no GPU: this machine has "
                             f"{torch.cuda.device_count()}; use --nproc_per_node <= the GPU count")
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
        backend = "nccl"
    elif device.type == "cpu":
        backend = "gloo"
    else:
        raise InputError(f"several training processes run on cpu (gloo) or cuda (nccl), not {device.type}")
    owns = not torch_dist.is_initialized()
    if owns:
        torch_dist.init_process_group(backend, timeout=DISTRIBUTED_TIMEOUT)
    if torch_dist.get_world_size() != world or torch_dist.get_rank() != rank:
        raise InputError(f"the process group ({torch_dist.get_rank()} of {torch_dist.get_world_size()}) "
                         f"does not "
                         f"match $RANK {rank} of $WORLD_SIZE {world}")
    return _Distributed(rank=rank, world_size=world, owns_group=owns), device


class _Selected(torch.nn.Module):
    """``model.forward_selected`` as a module's forward, for DistributedDataParallel to wrap."""

    def __init__(self, model: NativeModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, num_frames: torch.Tensor) -> torch.Tensor:
        return self.model.forward_selected(x, num_frames)


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
        raise InputError(f"--model {options.family} is a frame-level family; it cannot train on --level "
                         f"video")
    if options.precision not in ("float32", "bfloat16", "float16"):
        raise InputError(f"Invalid precision ({options.precision!r}). Supported values are float32, "
                         f"bfloat16, "
                         f"float16.")


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
        for batch in _batches(make_loader(dataset, batch_size=batch_size, workers=workers, device=device),
                              device):
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


def validate_segments(model: NativeModel, files: list[Path], *, device: torch.device) -> dict[str, Any]:
    """``yt8m eval``'s metrics of ``model`` on segment-rated ``files``: the video-level ones and the
    segment MAP."""
    from yt8m.inference.evaluate import evaluate_model

    was_training = model.training
    try:
        result = evaluate_model(files, NativeClassifier(model, device=device))
    finally:
        model.train(was_training)
    segments = result["segments"]
    if segments is None:
        raise InputError("the validation shards hold no segment ratings (2019-style segment_labels), which "
                         "--segment-labels validates on")
    return {**(result["video"] or {}), "segment_map": segments["map"],
            "segment_classes_scored": segments["num_classes_scored"],
            "rated_segments": segments["rated_segments"]}


def _check_resume(saved: dict[str, Any], options: TrainOptions, where: Path) -> None:
    now = _options_json(options)
    defaults = {f.name: f.default for f in dataclasses.fields(TrainOptions)}
    changed = [k for k in _FIXED_ON_RESUME if saved.get(k, defaults.get(k)) != now.get(k)]
    if changed:
        detail = "; ".join(f"{k}: {saved.get(k)!r} then, {now.get(k)!r} now" for k in changed[:3])
        raise InputError(f"{where}: --resume needs the options of the checkpointed run ({detail})")


def _load_init(model: NativeModel, init: str) -> None:
    """Copy the weights of the native model in ``init`` into ``model`` (same config, checked before)."""
    with load_native(init) as classifier:
        source = classifier.model.state_dict()
    try:
        model.load_state_dict(source)
    except RuntimeError as exc:
        raise InputError(f"--init {init}: its tensors do not fit this run's model ({exc})") from None


def _rng_states(group: _Distributed, device: torch.device) -> tuple[list[torch.Tensor],
                                                                    list[torch.Tensor | None]]:
    """Every process's torch (and CUDA) RNG state, rank by rank."""
    mine = (torch.get_rng_state(), torch.cuda.get_rng_state(device) if device.type == "cuda" else None)
    if not group.enabled:
        return [mine[0]], [mine[1]]
    gathered: list[Any] = [None] * group.world_size
    torch_dist.all_gather_object(gathered, mine)
    return [g[0] for g in gathered], [g[1] for g in gathered]


#: glibc ``mallopt`` parameters (malloc.h) and the value :func:`keep_large_allocations` sets.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_LARGE_ALLOCATION_BYTES = 1 << 30


def keep_large_allocations() -> bool:
    """Have glibc's ``malloc`` keep freed buffers of up to 1 GiB for reuse; True if it was set.

    By default glibc serves every allocation above 32 MB (less before its threshold adapts)
    with a fresh ``mmap`` and unmaps it when freed, so each training step's large tensors
    (gradients and activations of the 3862-class heads, a batch of frames) are page-faulted
    in again, zeroed by the kernel, step after step: about a quarter of a MoE step on this
    project's CPU. Raising the mmap and trim thresholds lets the process reuse that memory;
    its resident size then stays at its peak. Process-wide; a no-op off glibc.
    """
    if sys.platform != "linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(None)
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, _LARGE_ALLOCATION_BYTES)
                    and libc.mallopt(_M_TRIM_THRESHOLD, 2 * _LARGE_ALLOCATION_BYTES - 1))
    except (OSError, AttributeError):
        return False


def train(options: TrainOptions) -> TrainResult:
    """Train a model as ``options`` say; return where it is and how training went.

    Started by torchrun (``WORLD_SIZE`` > 1 in the environment), every process calls this
    and they train one model together (see the module docstring).
    """
    options = options.resolved()
    _check(options)
    assert options.batch_size is not None and options.epochs is not None
    device = _device(options.device)
    if options.precision == "float16" and device.type != "cuda":
        raise InputError("--precision float16 needs a CUDA device (use bfloat16 on CPU)")
    group, device = _start_distributed(device)
    if device.type == "cpu":
        keep_large_allocations()
    try:
        result = _train(options, group, device)
        group.finish()
        return result
    finally:
        group.close()


def _train(options: TrainOptions, group: _Distributed, device: torch.device) -> TrainResult:
    assert options.batch_size is not None and options.epochs is not None
    if options.batch_size % group.world_size:
        raise InputError(f"--batch-size ({options.batch_size}) is the batch of one step over all "
                         f"{group.world_size} processes; it must be a multiple of their number")
    local_batch = options.batch_size // group.world_size
    train_files = expand_shards(options.train_shards)
    validate_files = expand_shards(options.validate_shards) if options.validate_shards else []
    check_first_record(train_files)
    check_first_record(validate_files)
    options.train_shards = [str(p) for p in train_files]
    options.validate_shards = [str(p) for p in validate_files]
    assert options.level is not None and options.features is not None and options.num_classes is not None
    out = Path(options.output)
    checkpoint_dir = out / CHECKPOINT_DIR
    has_checkpoint = (checkpoint_dir / STATE_FILE).is_file()
    if options.resume and not has_checkpoint:
        raise InputError(f"{checkpoint_dir / STATE_FILE}: no checkpoint to resume from")
    if not options.resume and (has_checkpoint or (out / CONFIG_FILE).is_file()):
        raise InputError(f"{out}: already holds a model or checkpoint; pass --resume to continue it, or "
                         f"choose "
                         f"another output directory")
    dataset = ShardDataset(train_files, level=options.level, features=options.features,
                           num_classes=options.num_classes, max_frames=options.max_frames,
                           shuffle_buffer=options.shuffle_buffer, seed=options.seed, rank=group.rank,
                           world_size=group.world_size, segment_labels=options.segment_labels)
    validation = (ShardDataset(validate_files, level=options.level, features=options.features,
                               num_classes=options.num_classes, max_frames=options.max_frames)
                  if validate_files else None)
    model = build_training_model(options, dataset.feature_size)
    if options.init is not None and not options.resume:
        _load_init(model, options.init)
    model = model.to(device)
    params = [p for _, p in model.trainable_parameters()]
    optimizer = TFAdam(params, lr=learning_rate(options, 0), betas=(0.9, 0.999), eps=1e-8)
    scaler = torch.amp.GradScaler(device.type, enabled=options.precision == "float16")
    step = epoch = batches_in_epoch = examples = 0
    # Frame sampling and dropout draw from torch's global RNG, a stream of their own per process.
    torch.manual_seed(options.seed + group.rank)
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
        # Each process continues its own RNG stream when the number of processes is unchanged.
        torch_rngs = state.get("torch_rngs") or [state["torch_rng"]]
        cuda_rngs = state.get("cuda_rngs") or [state.get("cuda_rng")]
        if len(torch_rngs) == group.world_size:
            torch.set_rng_state(torch_rngs[group.rank].cpu())
            if device.type == "cuda" and cuda_rngs[group.rank] is not None:
                torch.cuda.set_rng_state(cuda_rngs[group.rank].cpu(), device)
        else:
            log.warning("resumed with %d processes where the checkpoint had %d: the data order and random "
                        "draws differ from an uninterrupted run", group.world_size, len(torch_rngs))
            torch.manual_seed(options.seed + group.rank + 1_000_003 * step)
    # Every process has read what it needs from MODEL_DIR before rank 0 writes there.
    group.barrier()
    metrics_log: _MetricsLog | None = None
    if group.main:
        checkpoint_dir.mkdir(parents=True, exist_ok=True)
        with atomic_write(checkpoint_dir / OPTIONS_FILE) as handle:
            handle.write((json.dumps(_options_json(options), indent=2) + "\n").encode())
        metrics_log = _MetricsLog(out / METRICS_FILE, keep_until_step=step if options.resume else None)

    def checkpoint() -> None:
        torch_rngs, cuda_rngs = _rng_states(group, device)  # a collective: every process calls checkpoint()
        if not group.main:
            return
        model_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        _save_state(checkpoint_dir, {
            "step": step, "epoch": epoch, "batches_in_epoch": batches_in_epoch, "examples": examples,
            "model": model_state, "optimizer": optimizer.state_dict(), "scaler": scaler.state_dict(),
            "torch_rng": torch_rngs[0], "cuda_rng": cuda_rngs[0], "torch_rngs": torch_rngs,
            "cuda_rngs": cuda_rngs,
            "world_size": group.world_size})
        save_native(model, out)

    last_validation: dict[str, Any] | None = None

    def run_validation() -> None:
        nonlocal last_validation
        if validation is None:
            return
        if group.main:
            if options.segment_labels:
                results = validate_segments(model, validate_files, device=device)
            else:
                results = validate(model, validation, batch_size=max(options.batch_size or 1, 256),
                                   workers=min(options.workers, len(validate_files)), device=device,
                                   precision=options.precision)
            last_validation = {"kind": "validation", "step": step, "examples": examples, **results}
            if metrics_log is not None:
                metrics_log.write(last_validation)
            log.info("step %d: validation %s", step, json.dumps(results))
        else:
            last_validation = {"kind": "validation", "step": step}  # rank 0 holds the results
        group.barrier()

    from tqdm import tqdm

    disable = (None if options.progress is None else not options.progress) if group.main else True
    bar = tqdm(total=options.max_steps, initial=step, unit="step", disable=disable, dynamic_ncols=True,
               file=sys.stderr, desc=f"train {options.family}")
    step_model: Any = model.forward_selected
    if group.enabled:
        from torch.nn.parallel import DistributedDataParallel

        step_model = DistributedDataParallel(_Selected(model),
                                             device_ids=[device.index] if device.type == "cuda"
                                             else None)
    model.train()
    train_seconds = 0.0
    trained_examples = 0
    window_loss, window_count, window_examples, window_start = 0.0, 0, 0, time.perf_counter()
    last_loss: float | None = None
    clip = options.clip_gradient_norm or 0.0
    l2 = (options.regularization_penalty or 0.0) * (options.l2_penalty or 0.0)
    done = options.max_steps is not None and step >= options.max_steps

    def next_batch(batches: Iterator[Batch]) -> tuple[Batch | None, int]:
        """This process's next batch and the step's examples over every process (None: the epoch ends).

        With several processes the epoch ends for all as soon as one has no batch left.
        """
        batch = next(batches, None)
        if not group.enabled:
            return batch, len(batch) if batch is not None else 0
        counts = torch.tensor([batch is not None, len(batch) if batch is not None else 0], dtype=torch.int64,
                              device=device)
        torch_dist.all_reduce(counts)
        if int(counts[0]) < group.world_size:
            return None, 0
        return batch, int(counts[1])

    try:
        while not done and epoch < options.epochs:
            dataset.set_epoch(epoch)
            loader = make_loader(dataset, batch_size=local_batch, workers=options.workers, device=device)
            batches = _batches(loader, device)
            skipped = batches_in_epoch
            for _ in range(batches_in_epoch):  # resumed mid-epoch: the batches already used
                if next(batches, None) is None:
                    break
            started = time.perf_counter()
            while True:
                batch, step_examples = next_batch(batches)
                if batch is None:
                    if batches_in_epoch == 0 and skipped == 0:
                        what = " (no segment ratings: --segment-labels needs 2019-style segment_labels)" \
                            if options.segment_labels else ""
                        raise InputError(f"the training shards yield no examples{what}")
                    epoch += 1
                    batches_in_epoch = 0
                    break
                for group_ in optimizer.param_groups:
                    group_["lr"] = learning_rate(options, step)
                with _autocast(device, options.precision):
                    predictions = step_model(batch.features, batch.num_frames)
                # Video-label batches hold labels of exactly 0 and 1 (Collate); rated segments' scores
                # come from the records, so they take the general formula.
                label_loss = cross_entropy_loss(predictions, batch.labels, batch.label_weights,
                                                binary_labels=batch.label_weights is None)
                objective = label_loss
                if group.enabled and len(batch) * group.world_size != step_examples:
                    # DDP averages the processes' gradients; weigh each by its share of the step's examples.
                    objective = label_loss * (len(batch) * group.world_size / step_examples)
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(objective).backward()
                scaler.unscale_(optimizer)
                # The L2 term's gradient, l2 * w, added after the backward pass (and after DDP's
                # averaging, which leaves a gradient every process shares unchanged).
                add_l2_gradient(model.regularized_weights(), l2)
                clip_by_norm(params, clip)
                scaler.step(optimizer)
                scaler.update()
                step += 1
                batches_in_epoch += 1
                examples += step_examples
                trained_examples += step_examples
                if group.enabled:
                    total = label_loss.detach().float() * len(batch)
                    torch_dist.all_reduce(total)
                    last_loss = float(total) / step_examples
                else:
                    last_loss = float(label_loss.detach())
                if not math.isfinite(last_loss):
                    raise Yt8mError(f"step {step}: the loss is {last_loss}; try a lower --learning-rate")
                window_loss += last_loss
                window_count += 1
                window_examples += step_examples
                now = time.perf_counter()
                train_seconds += now - started
                rate = trained_examples / train_seconds if train_seconds > 0 else 0.0
                bar.update(1)
                bar.set_postfix(loss=f"{last_loss:.4f}", ex_s=f"{rate:.0f}", epoch=epoch, refresh=False)
                if step % options.log_every == 0:
                    if metrics_log is not None:
                        metrics_log.write({"kind": "train", "step": step, "epoch": epoch,
                                           "examples": examples,
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
        checkpoint()
        if last_validation is None or last_validation["step"] != step:
            run_validation()
    finally:
        bar.close()
        if metrics_log is not None:
            metrics_log.close()
    return TrainResult(output=out, steps=step, examples=examples, epochs_done=epoch,
                       examples_per_s=trained_examples / train_seconds if train_seconds > 0 else 0.0,
                       last_loss=last_loss, validation=last_validation if group.main else None,
                       rank=group.rank,
                       world_size=group.world_size)
