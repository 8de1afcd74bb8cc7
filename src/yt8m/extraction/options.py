"""How to extract: :class:`ExtractOptions`, and the one set of CLI options that builds it.

Every command that extracts (``yt8m extract``, ``yt8m predict`` on a video, ``yt8m serve``)
takes the same options through :func:`extract_options`, so a setting available to one is
available to all, with the same name, default and help.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import click

from yt8m.errors import InputError

if TYPE_CHECKING:
    import torch

AudioHop = Literal["mediapipe", "vggish"]
Precision = Literal["float32", "bfloat16", "float16"]
Decode = Literal["auto", "cpu", "cuda"]
_PRECISIONS = ("float32", "bfloat16", "float16")
_AUDIO_HOPS = ("mediapipe", "vggish")
_DECODES = ("auto", "cpu", "cuda")

#: Why ``--precision bfloat16`` is refused for extraction (see docs/visual.md, 'Reduced precision').
BFLOAT16_REFUSED = (
    "--precision bfloat16 is not offered for extraction: bfloat16 keeps 8 bits of mantissa, and "
    "through Inception's 94 convolutions that moved most 8-bit feature values by more than one step "
    "(measured: 35% of quantized bytes unchanged or off by one, on CUDA and on CPU alike, where yt8m "
    "requires 99.9%). Use --precision float16 (100% in the same test) or float32.")


def torch_dtype(precision: str) -> torch.dtype:
    """The torch dtype of a ``--precision`` name."""
    import torch

    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[precision]


def check_device(device: str) -> torch.device:
    """``device`` as a :class:`torch.device`; a name torch does not know is an :class:`InputError`."""
    import torch

    try:
        return torch.device(device)
    except (RuntimeError, ValueError, TypeError):
        raise InputError(f"Invalid device ({device!r}). Supported values are cpu, cuda, cuda:N, mps, "
                         f"and the other PyTorch device names.") from None


@dataclass(frozen=True)
class ExtractOptions:
    """How to extract.

    ``batch_size`` counts frames per Inception batch, ``workers`` the videos decoded in
    parallel while the models run; ``audio_batch_size`` examples per VGGish batch.
    ``decode`` picks the video decoder: ``cpu`` software (FFmpeg), ``cuda`` NVDEC through
    FFmpeg's hwaccel for every video it can decode (the others in software, with a note),
    ``auto`` the one measured faster, which today is software (docs/visual.md, 'The
    decoder option'). Both give the same pixels, so ``decode`` does not key reruns.
    """

    device: str = "cpu"
    batch_size: int = 16
    workers: int = 1
    audio: bool = True
    audio_stream: int = 0
    audio_hop: AudioHop = "mediapipe"
    precision: Precision = "float32"
    audio_batch_size: int = 128
    decode: Decode = "auto"

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.audio_batch_size < 1:
            raise InputError(f"batch sizes must be >= 1, got {self.batch_size} and {self.audio_batch_size}")
        if self.workers < 1:
            raise InputError(f"workers must be >= 1, got {self.workers}")
        if self.audio_stream < 0:
            raise InputError(f"the audio stream index must be >= 0, got {self.audio_stream}")
        if self.audio_hop not in _AUDIO_HOPS:
            raise InputError(f"Invalid audio hop ({self.audio_hop!r}). Supported values are 'mediapipe', "
                             "'vggish'.")
        if self.precision not in _PRECISIONS:
            raise InputError(f"Invalid precision ({self.precision!r}). Supported values are "
                             f"{', '.join(_PRECISIONS)}.")
        if self.precision == "bfloat16":
            raise InputError(BFLOAT16_REFUSED)
        if self.decode not in _DECODES:
            raise InputError(f"Invalid decode ({self.decode!r}). Supported values are {', '.join(_DECODES)}.")
        check_device(self.device)

    def feature_settings(self) -> dict[str, Any]:
        """The settings that shape the features (not only how fast they come): what an
        output must have been made with for a rerun to reuse it."""
        settings = asdict(self)
        for speed_only in ("batch_size", "workers", "audio_batch_size", "decode"):
            del settings[speed_only]
        settings["device"] = check_device(self.device).type  # cuda:0 and cuda:1 compute alike
        if not self.audio:
            del settings["audio_stream"], settings["audio_hop"]
        return settings


_F = TypeVar("_F", bound=Callable[..., Any])

#: The keyword arguments :func:`extract_options` adds to a command.
OPTION_NAMES = ("device", "batch_size", "workers", "precision", "decode", "audio_hop", "audio_stream",
                "no_audio", "mirror")


def extract_options(
        *, device_help: str = "PyTorch device for the models: cpu, cuda, cuda:1, ...") -> Callable[[_F], _F]:
    """Add the extraction options to a click command; :func:`options_from_cli` reads them back."""
    decorators = [
        click.option("--device", default="cpu", show_default=True, help=device_help),
        click.option("--batch-size", type=click.IntRange(min=1), default=16, show_default=True,
                     help="Frames per Inception batch (frames of several videos are batched together)."),
        click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
                     help="Videos decoded in parallel while the models run."),
        click.option("--precision", type=click.Choice(list(_PRECISIONS)), default="float32",
                     show_default=True,
                     help="Model precision: float16 (GPUs) runs Inception after its stem and VGGish in "
                          "float16 and keeps the 8-bit features within one step; bfloat16 is refused "
                          "(it does not)."),
        click.option("--decode", type=click.Choice(list(_DECODES)), default="auto", show_default=True,
                     help="Video decoder: cuda = NVDEC (software for codecs it cannot decode, with a "
                          "note), cpu = software, auto = the faster of them, software today."),
        click.option("--audio-hop", type=click.Choice(list(_AUDIO_HOPS)), default="mediapipe",
                     show_default=True,
                     help="mediapipe: one 0.96 s example per second (YouTube-8M); vggish: every 0.96 s."),
        click.option("--audio-stream", type=click.IntRange(min=0), default=0, show_default=True,
                     help="Which audio stream (counting audio streams only)."),
        click.option("--no-audio", is_flag=True, help="Video features only."),
        click.option("--mirror", metavar="URL", default=None,
                     help="Fetch missing weights from this mirror (default: $YT8M_MIRROR, else the official "
                          "URLs)."),
    ]

    def apply(command: _F) -> _F:
        for decorator in reversed(decorators):
            command = decorator(command)
        return command

    return apply


def options_from_cli(values: dict[str, Any]) -> tuple[ExtractOptions, str | None]:
    """Pop the :func:`extract_options` values out of a command's keyword arguments.

    Returns the :class:`ExtractOptions` and the mirror URL (None: the default).
    """
    got = {name: values.pop(name) for name in OPTION_NAMES}
    options = ExtractOptions(device=got["device"], batch_size=got["batch_size"], workers=got["workers"],
                             precision=got["precision"], decode=got["decode"], audio_hop=got["audio_hop"],
                             audio_stream=got["audio_stream"], audio=not got["no_audio"])
    return options, got["mirror"]
