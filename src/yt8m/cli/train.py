"""``yt8m train``: train a classifier on YouTube-8M shards into a native yt8m model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from yt8m.cli.app import cli

_FAMILIES = ("logistic", "moe", "frame_logistic", "dbof", "lstm", "gated_netvlad", "nextvlad")


def _model_option(values: tuple[str, ...]) -> dict[str, Any]:
    from yt8m.errors import InputError

    options: dict[str, Any] = {}
    for item in values:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise InputError(f"--model-option {item!r}: expected KEY=VALUE, e.g. cluster_size=256")
        try:
            options[key.strip()] = json.loads(raw)
        except ValueError:
            options[key.strip()] = raw
    return options


@cli.command("train")
@click.argument("train_shards", metavar="TRAIN_SHARDS...", nargs=-1, required=True)
@click.option("--model", "family", type=click.Choice(_FAMILIES), default=None,
              help="Model family (the starter code's five, WILLOW's gated NetVLAD, NeXtVLAD); required "
                   "unless "
                   "--init names a model.")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, metavar="MODEL_DIR",
              help="Where the model (classifier.json + model.safetensors), metrics.jsonl and checkpoint/ go.")
@click.option("--validate", "validate_shards", multiple=True, metavar="SHARDS",
              help="Validation shards or a glob (repeatable); GAP@20, mAP, Hit@1, PERR at every validation.")
@click.option("--model-option", "model_options", multiple=True, metavar="KEY=VALUE",
              help="A family hyper-parameter (repeatable), e.g. cluster_size=256, num_mixtures=4. "
                   "[default: the family's published sizes]")
@click.option("--num-classes", type=click.IntRange(min=1), default=None,
              help="Vocabulary size (3862 for the 2018/2019 YouTube-8M, 4716 for 2017). "
                   "[default: 3862, or the --init model's]")
@click.option("--level", type=click.Choice(["frame", "video"]), default=None,
              help="Frame-level (rgb/audio per second) or video-level (mean_rgb/mean_audio) records. "
                   "[default: video for logistic and moe, else frame]")
@click.option("--features", type=click.Choice(["rgb,audio", "rgb", "audio"]), default=None,
              help="Which features the model uses (predict still feeds it all). "
                   "[default: rgb,audio, or the --init model's]")
@click.option("--max-frames", type=click.IntRange(min=1), default=300, show_default=True,
              help="Seconds kept per video (the starter code's reader keeps 300).")
@click.option("--batch-size", type=click.IntRange(min=1), default=None,
              help="Videos (segments with --segment-labels) per step, over all processes under torchrun. "
                   "[default: the recipe's; 1024 for the starter families]")
@click.option("--learning-rate", "base_learning_rate", type=float, default=None,
              help="Base learning rate. [default: the recipe's; 0.01 for the starter families]")
@click.option("--learning-rate-decay", type=float, default=None,
              help="Factor per --learning-rate-decay-examples (staircase). [default: the recipe's; 0.95]")
@click.option("--learning-rate-decay-examples", type=click.IntRange(min=1), default=None,
              help="Examples per decay step. [default: the recipe's; 4000000]")
@click.option("--clip-gradient-norm", type=float, default=None,
              help="Per-tensor gradient norm limit, 0 for none. [default: 1.0]")
@click.option("--regularization-penalty", type=float, default=None,
              help="Weight of the L2 loss. [default: 1.0]")
@click.option("--l2-penalty", type=float, default=None,
              help="L2 penalty of the classifier weights. [default: the recipe's; 1e-8 for the starter "
                   "families]")
@click.option("--batch-norm-decay", type=float, default=0.999, show_default=True,
              help="Batch norm moving-average decay (slim's default).")
@click.option("--epochs", type=click.IntRange(min=1), default=None,
              help="Passes over the training shards. [default: the recipe's; 5]")
@click.option("--max-steps", type=click.IntRange(min=1), default=None,
              help="Stop after this many steps in all.")
@click.option("--checkpoint-every", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Steps between checkpoints (the model directory is rewritten too).")
@click.option("--validate-every", type=click.IntRange(min=1), default=None,
              help="Steps between validations. [default: --checkpoint-every]")
@click.option("--log-every", type=click.IntRange(min=1), default=100, show_default=True,
              help="Steps between train lines in metrics.jsonl.")
@click.option("--shuffle-buffer", type=click.IntRange(min=0), default=4096, show_default=True,
              help="Videos held per reader for shuffling (0: shard order).")
@click.option("--workers", type=click.IntRange(min=0), default=1, show_default=True,
              help="Reader processes (each reads its own shards); 0 reads in the training process.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seeds the weights, the shuffle and sampling.")
@click.option("--device", default="cpu", show_default=True, help="Torch device (cpu, cuda, cuda:N, mps).")
@click.option("--precision", type=click.Choice(["float32", "bfloat16", "float16"]), default="float32",
              show_default=True, help="Mixed precision for the forward pass (float16 needs CUDA).")
@click.option("--resume", is_flag=True, help="Continue the run checkpointed in MODEL_DIR.")
@click.option("--init", type=click.Path(path_type=Path), default=None, metavar="MODEL_DIR",
              help="Start from this native model's weights (its family, sizes, classes and features).")
@click.option("--segment-labels", is_flag=True,
              help="Fine-tune on the 2019 rated 5 s segments (segment_labels/start_times/scores): the loss "
                   "counts each segment's rated class only; validation adds the segment MAP.")
@click.option("--progress/--no-progress", default=None, help="Progress bar. [default: on a terminal only]")
def train_command(train_shards: tuple[str, ...], family: str | None, output: Path,
                  validate_shards: tuple[str, ...],
                  model_options: tuple[str, ...], init: Path | None, **kwargs: Any) -> None:
    """Train a YouTube-8M classifier on TRAIN_SHARDS (TFRecord files or globs) into MODEL_DIR.

    Defaults are the family's published recipe: for the starter code's families batch 1024,
    Adam at 0.01 decayed by 0.95 every 4M examples, gradients clipped to norm 1.0, L2 1e-8,
    the starter code's cross-entropy. The result is a native model that `yt8m predict`,
    `predict-dataset` and `eval` load; `--resume` continues an interrupted run.

    Several processes: `torchrun --nproc_per_node N -m yt8m train ...` (gloo on CPU, nccl
    with --device cuda, one GPU per process); --batch-size stays the batch of one step,
    split across them. `--init MODEL_DIR --segment-labels` fine-tunes a model on the 2019
    segment ratings.
    """
    from yt8m.errors import InputError
    from yt8m.train import TrainOptions, train

    if family is None and init is None:
        raise InputError("--model is required (unless --init names a model to start from)")
    options = TrainOptions(train_shards=list(train_shards), family=family or "", output=str(output),
                           validate_shards=list(validate_shards), model_options=_model_option(model_options),
                           init=str(init) if init is not None else None, **kwargs)
    result = train(options)
    if result.rank != 0:
        return
    processes = f", {result.world_size} processes" if result.world_size > 1 else ""
    click.echo(f"{result.output}: {options.resolved().family} trained for {result.steps} steps "
               f"({result.examples} "
               f"examples, {result.examples_per_s:.1f} examples/s{processes})", err=True)
    if result.validation is not None:
        v = result.validation
        if "gap" in v:
            click.echo(f"validation at step {v['step']}: GAP@20 {v['gap']:.4f}, mAP {_num(v['map'])}, "
                       f"Hit@1 {v['hit_at_one']:.4f}, PERR {v['perr']:.4f} ({v['num_videos']} videos)",
                       err=True)
        if "segment_map" in v:
            click.echo(f"validation at step {v['step']}: segment MAP {_num(v['segment_map'])} "
                       f"({v['segment_classes_scored']} classes, {v['rated_segments']} rated segments)",
                       err=True)


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"
