"""``yt8m models``: fetch, import, list and verify the official weights; import starter-code classifiers."""

from __future__ import annotations

import json
from pathlib import Path

import click

from yt8m.cli.app import cli


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
    """Download and convert NAMES (models or artifacts; default: all that extraction needs).

    Prints `ready: NAME` for each model asked, and for each artifact asked the models
    converted from it (or the artifact's own name, e.g. `ready: label-map`).
    """
    from yt8m.weights.store import download

    for name in download(list(names), mirror=mirror):
        click.echo(f"ready: {name}")


@models.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--allow-size-mismatch", is_flag=True,
              help="Import a file whose size differs from the published one (with a warning).")
def models_import(paths: tuple[Path, ...], allow_size_mismatch: bool) -> None:
    """Import artifact files you already have (e.g. vggish_model.ckpt, inception-2015-12-05.tgz).

    Files are recognised by their published names. As `yt8m models download` does, a
    file whose size differs from the published size is refused, naming the file, its
    size and the published size; --allow-size-mismatch imports it anyway, with a
    warning saying the same. Nothing is imported unless every file is accepted.
    Prints `ready: NAME` for each model converted from the files (or the artifact's
    own name for a file that is the source of no model, e.g. label_map.txt).
    """
    from yt8m.weights.store import import_files

    for name in import_files(list(paths), allow_size_mismatch=allow_size_mismatch):
        click.echo(f"ready: {name}")


@models.command("import-classifier")
@click.argument("checkpoint", type=click.Path(path_type=Path))
@click.option("--family", required=True,
              type=click.Choice(["logistic", "moe", "frame_logistic", "dbof", "lstm"]),
              help="The starter code's --model: LogisticModel, MoeModel, FrameLevelLogisticModel, DbofModel, "
                   "LstmModel.")
@click.option("-o", "--output", "output", required=True, type=click.Path(path_type=Path),
              help="Model directory to write (classifier.json + model.safetensors).")
@click.option("--num-classes", type=int, default=None,
              help="Check the number of classes (it is read from the checkpoint's shapes).")
@click.option("--model-option", "model_options", multiple=True, metavar="KEY=VALUE",
              help="A hyper-parameter the checkpoint cannot tell, e.g. pooling=average for a DBoF trained "
                   "with --dbof_pooling_method=average, or input_features=rgb (VALUE is read as JSON, "
                   "else as a string). Repeatable.")
def models_import_classifier(checkpoint: Path, family: str, output: Path, num_classes: int | None,
                             model_options: tuple[str, ...]) -> None:
    """Turn a model trained by the YouTube-8M starter code (a TensorFlow checkpoint) into a native model.

    CHECKPOINT is the starter's train_dir checkpoint: a V2 prefix (model.ckpt-1234), its
    .index file, or a V1 file. No TensorFlow is needed. Sizes (features, classes,
    mixtures, clusters, hidden and LSTM units, layers, the video-level classifier) are
    read from the variables' shapes; a checkpoint of another family is refused, naming
    its missing and unexpected variables. The directory written loads in `yt8m predict`
    and `yt8m eval` (--model MODEL_DIR).
    """
    from yt8m.errors import InputError
    from yt8m.inference.classifiers.loader import save_native
    from yt8m.inference.classifiers.starter_import import import_starter_checkpoint

    options = {}
    for item in model_options:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InputError(f"--model-option {item!r}: expected KEY=VALUE")
        try:
            options[key.strip()] = json.loads(value)
        except ValueError:
            options[key.strip()] = value
    model = import_starter_checkpoint(checkpoint, family, num_classes=num_classes, options=options)
    save_native(model, output)
    config = model.config()
    click.echo(f"wrote {output}: {family}, {config['num_classes']} classes, "
               f"{config['feature_size']} features")


@models.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def models_list(as_json: bool) -> None:
    """Show each model and artifact: cached or missing, size, path."""
    from yt8m.artifacts.cache import cache_dir
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
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


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
