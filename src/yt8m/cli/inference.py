"""Commands about classifiers: ``yt8m predict``, ``yt8m predict-dataset`` and ``yt8m eval``."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from yt8m.cli.app import cli
from yt8m.extraction.options import extract_options, options_from_cli

_MODEL_HELP = ("The classifier: a yt8m native model directory, a TensorFlow SavedModel directory, a .tar.gz "
               "of either, or 'baseline' (the official baseline SavedModel, fetched on first use; needs "
               "TensorFlow).")
_LABELS_HELP = ("Class names: label_map.txt or vocabulary.csv. [default: the cached label map, if any; "
                "`yt8m models download label-map` fetches it]")


def _model_option(required: bool = True) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option("-m", "--model", "model", required=required, metavar="MODEL", help=_MODEL_HELP)


def _device_option() -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def check(ctx: click.Context, param: click.Parameter, value: str) -> str:
        from yt8m.extraction.options import check_device

        check_device(value)
        return value

    return click.option("--device", default="cpu", show_default=True, callback=check,
                        help="Torch device for native models (e.g. cuda).")


def _write_text(path: Path | None, text: str) -> None:
    if path is None:
        click.echo(text, nl=not text.endswith("\n"))
        return
    from yt8m._files import write_bytes_atomic

    write_bytes_atomic(path, text.encode("utf-8"))


@cli.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@_model_option()
@click.option("--segment-size", type=click.IntRange(min=1), default=5, show_default=True,
              help="Seconds per window.")
@click.option("--overlap", type=click.IntRange(min=0), default=4, show_default=True,
              help="Seconds shared by consecutive windows (less than the segment size).")
@click.option("--top-k", type=click.IntRange(min=1), default=3, show_default=True, help="Labels per window.")
@click.option("--video-top-k", type=click.IntRange(min=1), default=20, show_default=True,
              help="Labels for the whole video.")
@click.option("--labels", "labels_path", type=click.Path(path_type=Path), default=None, help=_LABELS_HELP)
@click.option("--format", "output_format", type=click.Choice(["json", "csv"]), default="json",
              show_default=True)
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Where to write (default: stdout).")
@click.option("--annotate", "annotate_path", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Also write the video with its labels drawn on it (INPUT must be a video, or "
                   "a features file whose clip path is a readable video).")
@extract_options(device_help="PyTorch device for extraction and native models: cpu, cuda, cuda:1, ...")
def predict(input_path: Path, model: str, segment_size: int, overlap: int, top_k: int, video_top_k: int,
            labels_path: Path | None, output_format: str, output: Path | None, annotate_path: Path | None,
            **extraction: Any) -> None:
    """Label a video, or its features (a features.pb or .npz), with a YouTube-8M classifier.

    A video is extracted first (as `yt8m extract` does, weights fetched on first use).

    Windows of SEGMENT-SIZE seconds overlapping by OVERLAP (starting at 0, s-o, 2(s-o),
    ...; a tail shorter than a window is dropped) each get their TOP-K labels, and the
    whole video its VIDEO-TOP-K. JSON has per window start_s, end_s and labels (index,
    name, score); CSV has one row per label. Features without audio are scored with zero
    (mean) audio, which the output says.
    """
    from yt8m.inference.classifiers import load_classifier
    from yt8m.inference.labels import resolve_label_map
    from yt8m.inference.video_predictions import (
        check_local_input, load_local_features, predict_local, predictions_csv)
    from yt8m.inference.windows import local_windows

    local_windows(0, segment_size=segment_size, overlap=overlap)  # validate the options before any work
    options, mirror = options_from_cli(extraction)
    check_local_input(input_path)
    # The model and its labels next: a bad --model is said before a long extraction.
    with load_classifier(model, device=options.device, mirror=mirror) as classifier:
        notes: list[str] = []
        labels = resolve_label_map(labels_path, num_classes=classifier.num_classes, model=model, notes=notes)
        features = load_local_features(input_path, extract_options=options, mirror=mirror)
        result = predict_local(features, classifier, segment_size=segment_size, overlap=overlap, top_k=top_k,
                               video_top_k=video_top_k, labels=labels)
    result["notes"] += notes
    text = (json.dumps(result, indent=2, ensure_ascii=False) + "\n" if output_format == "json"
            else predictions_csv(result))
    _write_text(output, text)
    if annotate_path is not None:
        from yt8m.render import annotate_video

        video = _video_of(input_path)
        report = annotate_video(video, result, annotate_path, top_k=top_k)
        click.echo(f"{annotate_path}: {report.frames} frames annotated", err=True)


def _video_of(input_path: Path) -> Path:
    """The video to annotate: INPUT itself, or the clip path a features file names."""
    from yt8m.errors import InputError
    from yt8m.features.sequence import FeatureSequence
    from yt8m.inference.video_predictions import _is_video_file

    if _is_video_file(input_path):
        return input_path
    sequence = FeatureSequence.read(input_path)
    if sequence.metadata is None or not Path(sequence.metadata.data_path).is_file():
        raise InputError(f"{input_path}: --annotate needs the video; this features file names none that "
                         "exists")
    return Path(sequence.metadata.data_path)


@cli.command("predict-dataset")
@click.argument("shards", nargs=-1, required=True, type=click.Path(path_type=Path))
@_model_option()
@click.option("--record-index", type=int, default=None, help="Only this record (0-based) of the one SHARD.")
@click.option("--segment-size", type=click.IntRange(min=1), default=5, show_default=True,
              help="Seconds per window (min(record seconds, this)); one window ends at every second.")
@click.option("--top-k", type=click.IntRange(min=1), default=9, show_default=True, help="Labels per window.")
@click.option("--labels", "labels_path", type=click.Path(path_type=Path), default=None, help=_LABELS_HELP)
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Windows as JSON lines, one record per line (default: stdout, unless a submission is "
                   "asked for).")
@click.option("--submission", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Write a video-level submission (VideoId,LabelConfidencePairs; top 20 per video).")
@click.option("--segment-submission", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Write a segment-level submission (Class,Segments; 5 s segments).")
@click.option("--whitelist", type=click.Path(path_type=Path), default=None,
              help="Class ids for --segment-submission, one per line (e.g. segment_label_ids.csv).")
@click.option("--segment-cap", type=click.IntRange(min=1), default=100_000, show_default=True,
              help="Segments kept per class in --segment-submission.")
@_device_option()
@click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="local: this process; ray: the shards spread over actors of a Ray cluster (needs "
                   "yt8m[ray]; "
                   "SHARDS may then be globs or URLs; see docs/cluster.md).")
@click.option("--ray-address", default=None, metavar="ADDRESS",
              help="Ray cluster to join (--engine ray). [default: $RAY_ADDRESS, else a local Ray]")
@click.option("--ray-actors", type=click.IntRange(min=1), default=None,
              help="Scoring actors (--engine ray), one model each. [default: one per GPU with --device cuda, "
                   "else one per CPU; at most one per shard]")
def predict_dataset(shards: tuple[Path, ...], model: str, record_index: int | None, segment_size: int,
                    top_k: int,
                    labels_path: Path | None, output: Path | None, submission: Path | None,
                    segment_submission: Path | None, whitelist: Path | None, segment_cap: int,
                    device: str, engine: str, ray_address: str | None, ray_actors: int | None) -> None:
    """Label the records of YouTube-8M TFRecord SHARDS with a classifier.

    Each record is dequantized; a window of min(seconds, SEGMENT-SIZE) seconds ends at
    every second (stamped with its last second) and gets its TOP-K labels. Shards are
    streamed and records batched together.
    """
    from yt8m.inference.classifiers import load_classifier
    from yt8m.inference.shard_scoring import check_shards
    from yt8m.inference.labels import read_class_ids, resolve_label_map
    from yt8m.inference.prediction_files import predict_dataset as run

    classes = read_class_ids(whitelist) if whitelist is not None else None
    if engine == "ray":
        from yt8m.errors import InputError
        from yt8m.inference.ray_scoring import predict_dataset_ray_cli

        if record_index is not None:
            raise InputError("--record-index is for the local engine (one record needs no cluster)")
        result = predict_dataset_ray_cli(list(shards), model, labels_path=labels_path, output=output,
                                         device=device,
                                         segment_size=segment_size, top_k=top_k, submission=submission,
                                         segment_submission=segment_submission, whitelist=classes,
                                         segment_cap=segment_cap, address=ray_address, actors=ray_actors)
        _dataset_summary(result, output, submission, segment_submission,
                         output is not None or (submission is None and segment_submission is None))
        return
    check_shards(list(shards), record_index=record_index)
    asked_files = submission is not None or segment_submission is not None
    windows_out = output if output is not None else (None if asked_files else sys.stdout)
    with load_classifier(model, device=device) as classifier:
        notes: list[str] = []
        labels = None
        if windows_out is not None:
            labels = resolve_label_map(labels_path, num_classes=classifier.num_classes,
                                       model=model, notes=notes)
            for note in notes:
                click.echo(f"yt8m: note: {note}", err=True)
        result = run(list(shards), classifier, record_index=record_index, segment_size=segment_size,
                     top_k=top_k,
                     labels=labels, windows_out=windows_out, submission=submission,
                     segment_submission=segment_submission, whitelist=classes, segment_cap=segment_cap)
    _dataset_summary(result, output, submission, segment_submission, windows_out is not None)


def _dataset_summary(result: Any, output: Path | None, submission: Path | None,
                     segment_submission: Path | None,
                     windows: bool) -> None:
    written = [f"{kind} -> {path}" for kind, path in (("windows", output), ("submission", submission),
                                                        ("segment submission", segment_submission)) if path]
    scored = f"{result.windows} windows" if windows else "scored (no windows asked for)"
    ray = f" [ray: {result.actors} actors, {result.shards} shards]" if hasattr(result, "actors") else ""
    records = f"{result.records} record{'' if result.records == 1 else 's'}"
    click.echo(f"{records}, {scored} in {result.elapsed_s:.1f} s "
               f"({result.records_per_s:.1f} records/s){'; ' if written else ''}{'; '.join(written)}{ray}",
               err=True)


@cli.command("eval")
@click.argument("shards", nargs=-1, required=True, type=click.Path(path_type=Path))
@_model_option(required=False)
@click.option("--predictions", type=click.Path(path_type=Path), default=None,
              help="Score this submission file (video- or segment-level) instead of a model.")
@click.option("--whitelist", type=click.Path(path_type=Path), default=None,
              help="Classes of the segment ranking built from --model (default: every rated class).")
@click.option("--segment-top-n", type=click.IntRange(min=1), default=100_000, show_default=True,
              help="Segments per class that the segment MAP scores.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@_device_option()
def eval_(shards: tuple[Path, ...], model: str | None, predictions: Path | None, whitelist: Path | None,
          segment_top_n: int, as_json: bool, device: str) -> None:
    """Score a classifier (--model) or a submission (--predictions) on labelled SHARDS.

    Video level: Hit@1, PERR, GAP@20 and mAP (over classes with a positive), as the
    YouTube-8M starter code computes them. Segment level (2019 shards with segment
    ratings): MAP over the top SEGMENT-TOP-N segments per class.
    """
    from yt8m.errors import InputError
    from yt8m.inference.shard_scoring import check_shards
    from yt8m.inference.evaluate import evaluate_model, evaluate_submission

    if (model is None) == (predictions is None):
        raise InputError("give exactly one of --model and --predictions")
    check_shards(list(shards))
    if predictions is not None:
        result = evaluate_submission(list(shards), predictions, segment_top_n=segment_top_n)
    else:
        from yt8m.inference.classifiers import load_classifier

        with load_classifier(model, device=device) as classifier:  # type: ignore[arg-type]
            result = evaluate_model(list(shards), classifier, whitelist=whitelist,
                                    segment_top_n=segment_top_n)
    video = result.get("video")
    if not (video and video["num_classes_with_positives"]) and not result.get("segments"):
        raise InputError(f"{len(shards)} shard(s) ({shards[0]}{', ...' if len(shards) > 1 else ''}): the "
                         "records hold no labels, so there is nothing to score (eval needs labelled shards, "
                         f"such as the train or validate partitions; the test partition has none)")
    click.echo(json.dumps(result, indent=2) if as_json else _format_metrics(result))


def _number(value: object) -> str:
    return "n/a" if value is None else f"{value:.6f}" if isinstance(value, float) else str(value)


def _format_metrics(result: dict) -> str:
    lines = []
    video = result.get("video")
    if video:
        positives = f"{video['num_classes_with_positives']} classes with a positive"
        lines += [f"videos: {video['num_videos']}", f"Hit@1: {_number(video['hit_at_one'])}",
                  f"PERR: {_number(video['perr'])}", f"GAP@20: {_number(video['gap'])}",
                  f"mAP: {_number(video['map'])} (over {positives})"]
    segments = result.get("segments")
    if segments:
        scored = f"{segments['num_classes_scored']} of {segments['num_classes']} classes"
        lines += [f"rated segments: {segments['rated_segments']}",
                  f"segment MAP@{segments['top_n']}: {_number(segments['map'])} (over {scored})"]
    return "\n".join(lines) if lines else "no labels to score"
