"""``yt8m extract`` and ``yt8m convert``: videos to features, features.pb to dataset shards."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import click

from yt8m.cli.app import SECONDS, cli
from yt8m.errors import InputError
from yt8m.extraction.options import extract_options, options_from_cli


@cli.command()
@click.argument("inputs", nargs=-1, type=click.Path(path_type=Path))
@click.option("-o", "--output", default=None, metavar="PATH",
              help="Output file (one video, mediapipe/npz) or directory; with --engine ray also a URL "
                   "(s3://bucket/prefix, gs://..., any fsspec URL). "
                   "[default: features.pb for one video, features/ for many]")
@click.option("--format", "fmt", type=click.Choice(["mediapipe", "yt8m", "npz"]), default=None,
              help="mediapipe: features.pb per video (the reference output); yt8m: quantized "
                   "TFRecord shards for the starter code; npz: numpy arrays. "
                   "[default: mediapipe for one video, yt8m for many]")
@click.option("--start", "start_s", type=SECONDS, default=None, help="Clip start in seconds. [default: 0]")
@click.option("--end", "end_s", type=SECONDS, default=None, help="Clip end in seconds (exclusive). "
              "[default: the end of the video]")
@click.option("--metadata", "metadata_path", type=click.Path(path_type=Path), default=None,
              help="Take the video and clip window from a metadata.pb (see `yt8m metadata`).")
@extract_options()
@click.option("--id-from", type=click.Choice(["stem", "path", "hash"]), default="stem", show_default=True,
              help="Video id in records and output names: file stem, path, or content hash.")
@click.option("--shard-size", type=click.IntRange(min=1), default=100, show_default=True,
              help="Videos per TFRecord shard (yt8m format).")
@click.option("--shard-prefix", default="features", show_default=True, help="Shard file name prefix.")
@click.option("--overwrite", is_flag=True, help="Redo videos whose outputs exist (default: skip them).")
@click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="local: this machine; ray: an actor pool on a Ray cluster (yt8m format; needs yt8m[ray]).")
@click.option("--ray-address", default=None, metavar="ADDRESS",
              help="Ray cluster to join (--engine ray). [default: $RAY_ADDRESS, else a local Ray]")
@click.option("--ray-actors", type=click.IntRange(min=1), default=None,
              help="Extraction actors (--engine ray), each asking for --workers CPUs. "
                   "[default: one per GPU on cuda, else as many as the CPUs allow]")
def extract(inputs: tuple[Path, ...], output: str | None, fmt: str | None, start_s: float | None,
            end_s: float | None, metadata_path: Path | None, id_from: str, shard_size: int, shard_prefix: str,
            overwrite: bool, engine: str, ray_address: str | None, ray_actors: int | None,
            **extraction: Any) -> None:
    """Extract YouTube-8M features from INPUTS: video files, directories or manifest CSVs.

    Per second of video: 1024 PCA'd Inception v3 features and 128 PCA'd VGGish audio
    features, exactly as MediaPipe's YouTube-8M pipeline computes them. Weights are
    fetched on first use (see `yt8m models`). A rerun skips finished outputs; failed
    videos are listed in failures.csv and make the exit code 1.
    """
    from yt8m.extraction import Extractor
    from yt8m.extraction.batch import FAILURES_FILE, plan_batch, run_batch
    from yt8m.formats.mediasequence import get_clip_metadata, read_sequence_example

    options, mirror = options_from_cli(extraction)
    if metadata_path is not None:
        if inputs or start_s is not None or end_s is not None:
            raise InputError("--metadata gives the video and the clip window; do not also pass INPUT, "
                             "--start or --end")
        clip = get_clip_metadata(read_sequence_example(metadata_path), where=str(metadata_path))
        inputs, start_s, end_s = (Path(clip.data_path),), clip.start_us / 1e6, clip.end_us / 1e6
    if not inputs:
        raise click.UsageError("give at least one INPUT (a video, a directory or a manifest .csv)")
    if start_s is not None and end_s is not None and start_s >= end_s:
        raise InputError(f"The clip start time ({start_s:g} s) must be less than the clip end time "
                         f"({end_s:g} s).")
    if engine == "ray":
        from yt8m.extraction.ray_engine import run_ray_cli

        if fmt not in (None, "yt8m"):
            raise InputError("--engine ray writes the yt8m format only")
        return run_ray_cli(inputs, output=output, options=options, mirror=mirror, id_from=id_from,
                           shard_size=shard_size, shard_prefix=shard_prefix, start_s=start_s, end_s=end_s,
                           overwrite=overwrite, address=ray_address, actors=ray_actors)
    if output is not None and "://" in output:
        raise InputError(f"{output}: the local engine writes to local paths only; URL outputs need "
                         "--engine ray")
    target = plan_batch(list(inputs), fmt=fmt, output=None if output is None else Path(output),  # type: ignore[arg-type]
                        id_from=id_from, shard_prefix=shard_prefix)  # type: ignore[arg-type]
    videos, out, single_file = target.videos, target.out, target.single_file
    started = time.perf_counter()
    extractor = Extractor(options, mirror=mirror)
    report = run_batch(extractor, videos, fmt=target.fmt, out=out, overwrite=overwrite,
                       shard_size=shard_size, shard_prefix=shard_prefix, start_s=start_s or 0.0, end_s=end_s,
                       on_failure=lambda path, reason: click.echo(f"yt8m: failed: {reason}", err=True))
    elapsed = time.perf_counter() - started
    for warning in report.warnings:
        click.echo(f"yt8m: note: {warning}", err=True)
    rate = f", {report.video_seconds / elapsed:.1f} video-s/s" if report.video_seconds else ""
    earlier = f" (and {len(report.failed_earlier)} in an earlier run)" if report.failed_earlier else ""
    removed = f"; removed {len(report.removed)} files of an earlier run" if report.removed else ""
    kept = (f"; every input failed, so the shards already there ({len(report.kept)}) are left as they "
            "were" if report.kept else "")
    click.echo(f"{len(report.done)} extracted ({report.video_seconds} video-seconds in {elapsed:.1f} "
               f"s{rate}), {len(report.reused)} skipped (done before from the same video and settings), "
               f"{len(report.failed)} failed{earlier}{removed}{kept} -> {out}", err=True)
    failed = len(report.failed) + len(report.failed_earlier)
    if failed:
        where = out.parent if single_file else out
        raise _SomeFailed(f"{failed} of {len(videos) - len(report.duplicates)} videos failed; "
                          f"see {where / FAILURES_FILE}")


class _SomeFailed(InputError):
    exit_code = 1


@cli.command()
@click.argument("features", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="The TFRecord shard to write.")
@click.option("--id-from", type=click.Choice(["stem", "path", "clip"]), default="stem", show_default=True,
              help="Record id: the features file's stem or path, or the stem of the clip's video path.")
def convert(features: tuple[Path, ...], output: Path, id_from: str) -> None:
    """Convert MediaPipe features.pb files (the reference's output) into one YouTube-8M shard.

    Features are quantized as the dataset was, audio aligned on video seconds, and
    mean_rgb/mean_audio added, so the shard reads with the starter code's readers.
    Files that cannot be read are listed and skipped; the exit code is then 1. When none
    can be read, OUTPUT is left as it was.
    """
    from yt8m.errors import Yt8mError
    from yt8m.features.sequence import FeatureSequence
    from yt8m.formats.tfrecord import TFRecordWriter

    failed = []
    with TFRecordWriter(output) as writer:
        for path in features:
            try:
                seq = FeatureSequence.read(path)
                seq.check_finite(str(path))
                if id_from == "clip" and seq.metadata is not None:
                    video_id = Path(seq.metadata.data_path).stem
                else:
                    video_id = path.as_posix() if id_from == "path" else path.name.split(".")[0]
                for note in seq.aligned_audio()[1]:
                    click.echo(f"yt8m: {path}: {note}", err=True)
                writer.write(seq.to_frame_record(video_id).SerializeToString(deterministic=True))
            except Yt8mError as exc:
                failed.append(path)
                click.echo(f"yt8m: failed: {exc}", err=True)
        if not writer.records_written:  # raised inside the writer: an existing shard stays as it was
            raise _SomeFailed(f"none of the {len(features)} files could be converted; {output} was not "
                              "written")
    click.echo(f"{output}: {len(features) - len(failed)} records", err=True)
    if failed:
        raise _SomeFailed(f"{len(failed)} of {len(features)} files could not be converted")
    sys.stdout.flush()
