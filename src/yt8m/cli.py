"""The ``yt8m`` command: parses options, calls the library, prints results.

Every :class:`~yt8m.errors.Yt8mError` becomes one line on stderr and the error's exit
code (2 for bad input); no traceback is shown for them.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import click

from yt8m._version import __version__
from yt8m.errors import Yt8mError


class _Seconds(click.ParamType):
    """A non-negative time in seconds (fractions allowed)."""

    name = "SECONDS"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> float:
        try:
            seconds = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number of seconds", param, ctx)
        if not seconds >= 0 or seconds == float("inf"):
            self.fail(f"{value!r} must be a finite number of seconds >= 0", param, ctx)
        return seconds


SECONDS = _Seconds()


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "-V", "--version", prog_name="yt8m")
@click.option("-v", "--verbose", count=True, help="Log more (-v info, -vv debug).")
def cli(verbose: int) -> None:
    """YouTube-8M features and predictions for your own videos.

    Extract the features of the YouTube-8M dataset (Inception v3 frames and VGGish
    audio, one per second, PCA-reduced) from local videos, write them as MediaPipe
    features.pb or as YouTube-8M TFRecord shards, and inspect those files.
    """
    level = logging.WARNING - 10 * verbose
    logging.basicConfig(level=max(level, logging.DEBUG), format="yt8m: %(levelname)s: %(message)s")


@cli.command()
@click.argument("video", type=click.Path(path_type=Path))
@click.option("--start", "start_s", type=SECONDS, default=0.0, show_default=True,
              help="Clip start in seconds.")
@click.option("--end", "end_s", type=SECONDS, default=None,
              help="Clip end in seconds (exclusive). [default: the video's duration]")
@click.option("-o", "--output", type=click.Path(path_type=Path), default=Path("metadata.pb"),
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


@cli.group()
def models() -> None:
    """Fetch, import, list and verify the official weights.

    Weights are cached under $YT8M_HOME (default: the user cache directory) and
    converted once to safetensors; `yt8m extract` fetches what it needs on first use.
    """


@models.command("download")
@click.argument("names", nargs=-1)
@click.option("--mirror", metavar="URL", default=None,
              help="Base URL serving the same file names (default: $YT8M_MIRROR, else the official URLs).")
def models_download(names: tuple[str, ...], mirror: str | None) -> None:
    """Download and convert NAMES (models or artifacts; default: all that extraction needs)."""
    from yt8m.weights.store import download

    for name in download(list(names), mirror=mirror):
        click.echo(f"ready: {name}")


@models.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
def models_import(paths: tuple[Path, ...]) -> None:
    """Import artifact files you already have (e.g. vggish_model.ckpt, inception-2015-12-05.tgz)."""
    from yt8m.weights.store import import_files

    for name in import_files(list(paths)):
        click.echo(f"ready: {name}")


@models.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def models_list(as_json: bool) -> None:
    """Show each model and artifact: cached or missing, size, path."""
    from yt8m.weights.cache import cache_dir
    from yt8m.weights.store import status

    rows = status()
    if as_json:
        click.echo(json.dumps({"cache": str(cache_dir()), "entries": rows}, indent=2))
        return
    click.echo(f"cache: {cache_dir()}")
    table = [["name", "kind", "status", "size"]]
    table += [[r["name"], r["kind"], r["status"], _size(r["size"])] for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(4)]
    for row in table:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())


def _size(size: int | None) -> str:
    return "-" if size is None else f"{size / 1e6:.1f} MB"


@models.command("verify")
def models_verify() -> None:
    """Re-check the sha256 of every cached file and the shapes of every converted model."""
    from yt8m.errors import WeightsError
    from yt8m.weights.store import verify

    problems = verify()
    if problems:
        for problem in problems:
            click.echo(problem, err=True)
        raise WeightsError(f"{len(problems)} problem(s) in the weights cache; "
                           f"`yt8m models download NAME` fetches and converts again")
    click.echo("all cached weights verified")


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit code instead of raising for expected errors."""
    try:
        cli.main(args=argv, prog_name="yt8m", standalone_mode=False)
    except Yt8mError as exc:
        click.echo(f"yt8m: error: {exc}", err=True)
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("yt8m: aborted", err=True)
        return 130
    except KeyboardInterrupt:
        click.echo("yt8m: interrupted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
