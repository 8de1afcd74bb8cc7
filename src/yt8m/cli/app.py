"""The ``yt8m`` click group and shared option types; commands live beside it.

"""

from __future__ import annotations

import logging

import click

from yt8m._version import __version__


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
