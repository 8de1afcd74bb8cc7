"""Commands about files: ``yt8m metadata`` and ``yt8m inspect``."""

from __future__ import annotations

import json
from pathlib import Path

import click

from yt8m.cli.app import SECONDS, cli


@cli.command()
@click.argument("video", type=click.Path(path_type=Path))
@click.option("--start", "start_s", type=SECONDS, default=0.0, show_default=True,
              help="Clip start in seconds.")
@click.option("--end", "end_s", type=SECONDS, default=None,
              help="Clip end in seconds (exclusive). [default: the video's duration]")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), default=Path("metadata.pb"),
              show_default=True, help="Where to write the metadata.")
def metadata(video: Path, start_s: float, end_s: float | None, output: Path) -> None:
    """Write the metadata.pb that selects a clip of VIDEO for extraction.

    The same file as MediaPipe's generate_input_sequence_example.py: a serialized
    SequenceExample with clip/data_path, clip/start/timestamp and clip/end/timestamp
    (microseconds). The path is stored absolute.
    """
    from yt8m.metadata import clip_metadata_for
    from yt8m.formats.mediasequence import make_metadata, write_message

    clip = clip_metadata_for(video, start_s=start_s, end_s=end_s)
    write_message(output, make_metadata(clip))
    click.echo(f"{output}: clip {clip.data_path} from {clip.start_us / 1e6:g} s to {clip.end_us / 1e6:g} s")


@cli.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def inspect(file: Path, as_json: bool) -> None:
    """Show what FILE holds: a features.pb, metadata.pb, TFRecord shard, MatrixData or media file.

    Lists keys, dimensions, counts and time ranges; for shards, one line per record.
    """
    from yt8m.formats.inspect import describe, format_description

    info = describe(file)
    click.echo(json.dumps(info, indent=2, ensure_ascii=False) if as_json else format_description(info))
