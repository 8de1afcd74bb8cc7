"""``yt8m serve``: the web viewer (FastAPI under uvicorn)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import click

from yt8m.cli.app import cli
from yt8m.errors import Yt8mError
from yt8m.extraction.options import extract_options, options_from_cli

_MODEL_HELP = ("The classifier: a yt8m native model directory, a TensorFlow SavedModel directory, a .tar.gz "
               "of either, or 'baseline' (the official baseline SavedModel, fetched on first use; needs "
               "TensorFlow). When 'baseline' cannot be fetched or loaded, the viewer still starts: it "
               "extracts uploads and shows dataset records, without predictions.")


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but a loopback address exposes the server to the network.")
@click.option("--port", type=click.IntRange(1, 65535), default=8008, show_default=True,
              help="Port to listen on.")
@click.option("-m", "--model", default="baseline", show_default=True, metavar="MODEL", help=_MODEL_HELP)
@click.option("--labels", "labels_path", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Class names: label_map.txt or vocabulary.csv. [default: the cached label map, if any]")
@click.option("--dataset", "dataset_dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="A folder of YouTube-8M frame-level shards (*.tfrecord, searched recursively) to look "
                   "record ids up in.")
@click.option("--media-root", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="A folder of videos users may pick from (read in place, never written).")
@click.option("--max-upload-mb", type=click.FloatRange(min=0, min_open=True), default=512.0,
              show_default=True,
              help="Largest upload (and request body) accepted, in MiB.")
@click.option("--max-video-pixels", type=click.IntRange(min=1), default=None, metavar="PIXELS",
              help="Largest video frame accepted (width x height), refused at upload. "
                   "[default: 9437184, i.e. 4096x2304; 4K UHD fits]")
@click.option("--data-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Where uploads, features and indexes are kept. [default: <cache>/web, under $YT8M_HOME]")
@click.option("--segment-size", type=click.IntRange(1, 300), default=5, show_default=True,
              help="The page's initial segment size in seconds (it can be changed there).")
@click.option("--offline", is_flag=True,
              help="Never ask data.yt8m.org or download shards: only local shards are searched.")
@click.option("--lookup-url", default=None, metavar="URL",
              help="Base URL of the id lookups (<URL>/r/.. and <URL>/i/..). [default: http://data.yt8m.org/2/j]")
@click.option("--shard-url", default=None, metavar="URL",
              help="Base URL the named shards are downloaded from. "
                   "[default: http://us.data.yt8m.org/2/frame/train]")
@extract_options(device_help="PyTorch device for extraction and native models: cpu, cuda, cuda:1, ...")
def serve(host: str, port: int, model: str, labels_path: Path | None, dataset_dir: Path | None,
          media_root: Path | None, max_upload_mb: float, max_video_pixels: int | None, data_dir: Path | None,
          segment_size: int, offline: bool, lookup_url: str | None, shard_url: str | None,
          **extraction: Any) -> None:
    """Serve the web viewer: watch videos with their YouTube-8M labels over time.

    Upload a video (or pick one from --media-root): a background job extracts its
    features and predicts; the page then plays it with the current window's labels, a
    score threshold, a segment-size control and a timeline of the top labels. Or enter
    a YouTube-8M id or YouTube URL: the record is taken from the --dataset shards or,
    online, found through data.yt8m.org and its shard downloaded once into the cache.
    The JSON API is documented at /docs. Listens on 127.0.0.1 unless --host says otherwise.
    """
    try:
        import uvicorn

        from yt8m.web.app import create_app
        from yt8m.web.resources import Resources
        from yt8m.web.settings import (
            DEFAULT_LOOKUP_URL,
            DEFAULT_MAX_PIXELS,
            DEFAULT_SHARD_URL,
            Settings,
            is_loopback,
        )
    except ImportError as exc:
        raise Yt8mError(f"yt8m serve needs the web extra ({exc.name} is missing): "
                        "pip install 'yt8m[web]'") from None

    options, mirror = options_from_cli(extraction)
    settings = Settings(host=host, port=port, model=model, labels=labels_path, dataset_dir=dataset_dir,
                        media_root=media_root, data_dir=data_dir, max_upload_mb=max_upload_mb,
                        max_pixels=max_video_pixels or DEFAULT_MAX_PIXELS,
                        device=options.device, extract=options, mirror=mirror,
                        online=not offline, lookup_url=lookup_url or DEFAULT_LOOKUP_URL,
                        shard_url=shard_url or DEFAULT_SHARD_URL, default_segment_size=segment_size)
    if not is_loopback(host):
        click.echo(f"yt8m: warning: listening on {host}: anyone who can reach this machine can upload videos "
                   f"and use this server", err=True)
    click.echo(f"yt8m: loading the model {model} ...", err=True)
    resources = Resources.load(settings)
    if resources.classifier_error:
        click.echo(f"yt8m: warning: {resources.classifier_error}", err=True)
        click.echo("yt8m: warning: serving without predictions: uploads are still extracted and dataset "
                   "records still shown", err=True)
    for note in resources.notes:
        click.echo(f"yt8m: note: {note}", err=True)
    if resources.extraction_error:
        click.echo(f"yt8m: warning: {resources.extraction_error}; uploads are refused, records still work",
                   err=True)
    try:
        app = create_app(settings, resources=resources)
        verbose = logging.getLogger().getEffectiveLevel() <= logging.INFO
        config = uvicorn.Config(app, host=host, port=port, log_level="info" if verbose else "warning",
                                access_log=verbose, server_header=False)
        server = uvicorn.Server(config)
        shown = f"[{host}]" if ":" in host else host
        click.echo(f"yt8m: viewer at http://{shown}:{port}/ (API at /docs); Ctrl+C stops it", err=True)
        try:
            server.run()
        except KeyboardInterrupt:  # uvicorn shuts down cleanly, then re-raises the signal it caught
            pass
        except SystemExit:  # uvicorn exits when it cannot bind; it has logged why
            pass
        if server.started:
            click.echo("yt8m: viewer stopped", err=True)
    finally:
        resources.close()
    if not server.started:
        raise Yt8mError(f"the viewer could not start on {host}:{port} (see the message above)")
