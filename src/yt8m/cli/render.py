"""``yt8m annotate``: the predicted labels drawn on the video, sound kept."""

from __future__ import annotations

from pathlib import Path

import click

from yt8m.cli.app import cli


@cli.command()
@click.argument("video", type=click.Path(path_type=Path))
@click.argument("predictions_path", metavar="PREDICTIONS.json", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="The annotated video to write (always MP4: H.264 and the input's audio).")
@click.option("--top-k", type=click.IntRange(min=1), default=3, show_default=True,
              help="Labels drawn per frame (the best of the current window).")
@click.option("--threshold", type=click.FloatRange(0.0, 1.0), default=0.0, show_default=True,
              help="Draw only labels scoring at least this.")
@click.option("--no-timeline", is_flag=True, help="No bar of the windows' top labels along the bottom.")
@click.option("--odd-size", type=click.Choice(["exact", "pad"]), default="exact", show_default=True,
              help="For odd widths or heights: exact keeps the size (yuv444p; some browsers do not play "
                   "it), pad adds a pixel (yuv420p).")
@click.option("--crf", type=click.IntRange(0, 51), default=20, show_default=True,
              help="x264 quality: lower is better and larger, 0 is lossless.")
@click.option("--preset", type=click.Choice(["ultrafast", "superfast", "veryfast", "faster", "fast", "medium",
                                             "slow", "slower", "veryslow"]),
              default="veryfast", show_default=True, help="x264 speed: slower compresses better.")
def annotate(video: Path, predictions_path: Path, output: Path, top_k: int, threshold: float,
             no_timeline: bool, odd_size: str, crf: int, preset: str) -> None:
    """Draw the labels of PREDICTIONS.json (from `yt8m predict`) on VIDEO.

    Each frame shows, at its top-left, the TOP-K labels of the latest window that
    started at or before it, as `label: score` in red, green and blue; a thin bar along
    the bottom shows each window's top label by colour and the current position. The
    output keeps the input's frames, timestamps, displayed size and orientation, and
    copies its audio (AAC and MP3 as they are, other codecs re-encoded to AAC).
    """
    from yt8m.render.annotate import annotate_video
    from yt8m.render.label_windows import load_predictions

    predictions = load_predictions(predictions_path)
    report = annotate_video(video, predictions, output, top_k=top_k, threshold=threshold,
                            timeline=not no_timeline, odd_size=odd_size,  # type: ignore[arg-type]
                            crf=crf, preset=preset)
    for note in report.notes:
        click.echo(f"yt8m: note: {note}", err=True)
    audio = {"copied": "audio copied", "reencoded": "audio re-encoded to AAC", "none": "no audio",
             "partial": "audio cut short"}[report.audio]
    click.echo(f"{report.frames} frames annotated ({report.width}x{report.height}, {audio}) in "
               f"{report.elapsed_s:.1f} s ({report.frames_per_s:.1f} frames/s) -> {report.output}", err=True)
