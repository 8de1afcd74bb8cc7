"""Drawing overlays straight into planar 8-bit YUV pictures (no RGB round trip).

A frame stays in the encoder's pixel format; an overlay is converted once to Y, U, V
with the frame's colour matrix and range (:class:`YuvMatrix`), and each frame only
blends the overlay's rectangle: ``out = (plane * (256 - a) + value * a + 128) >> 8``
with ``a`` the opacity scaled to 0..256 (:class:`PlanarOverlay`). Opacity 0 leaves a
sample exactly as it was. A subsampled chroma sample gets the mean opacity and the
opacity-weighted mean colour of the pixels it covers, so it equals the mean of the
per-pixel blends over a uniform background.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import av
import numpy as np
from av.video.reformatter import ColorRange, Colorspace

from yt8m.render.overlay import Overlay

__all__ = [
    "BT601", "BT709", "FrameColors", "PlanarOverlay", "YuvMatrix", "frame_colors", "matrix_for_frame",
    "plane_view",
]

# FFmpeg's AVColorSpace, AVColorPrimaries / AVColorTransferCharacteristic and AVColorRange values.
_AVCOL_SPC_BT709 = 1
_AVCOL_SPC_SMPTE170M = 6
_AVCOL_SPC_BT601 = frozenset({5, _AVCOL_SPC_SMPTE170M})  # BT470BG, SMPTE170M
_AVCOL_SPC_BT2020 = frozenset({9, 10})  # BT2020 NCL, CL
_AVCOL_UNSPECIFIED = 2  # the same value for colour space, primaries and transfer
_AVCOL_RANGE_JPEG = 2


@dataclass(frozen=True)
class YuvMatrix:
    """An RGB to Y'CbCr conversion: luma weights ``kr``, ``kb`` and full or limited range."""

    kr: float
    kb: float
    full_range: bool = False

    def from_rgb(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Y, U, V code values (float32, 0..255 scale) of uint8 RGB pixels ``[..., 3]``."""
        r, g, b = (rgb[..., i].astype(np.float32) / 255.0 for i in range(3))
        kg = 1.0 - self.kr - self.kb
        luma = self.kr * r + kg * g + self.kb * b
        pb = (b - luma) / (2.0 * (1.0 - self.kb))
        pr = (r - luma) / (2.0 * (1.0 - self.kr))
        if self.full_range:
            return luma * 255.0, 128.0 + pb * 255.0, 128.0 + pr * 255.0
        return 16.0 + luma * 219.0, 128.0 + pb * 224.0, 128.0 + pr * 224.0


BT601 = YuvMatrix(kr=0.299, kb=0.114)
BT709 = YuvMatrix(kr=0.2126, kb=0.0722)
_BT2020 = YuvMatrix(kr=0.2627, kb=0.0593)


def matrix_for_frame(frame: av.VideoFrame, *, display_width: int, display_height: int) -> YuvMatrix:
    """The colour matrix and range of ``frame``, from its tags.

    Untagged video is read as players guess: BT.709 for HD (wider than 1024 or higher
    than 576 pixels), BT.601 below. Full range for ``yuvj*`` formats or a JPEG range tag.
    """
    full = frame.format.name.startswith("yuvj") or int(frame.color_range) == _AVCOL_RANGE_JPEG
    space = int(frame.colorspace)
    if space == _AVCOL_SPC_BT709:
        base = BT709
    elif space in _AVCOL_SPC_BT601:
        base = BT601
    elif space in _AVCOL_SPC_BT2020:
        base = _BT2020
    else:
        base = BT709 if display_width > 1024 or display_height > 576 else BT601
    return YuvMatrix(kr=base.kr, kb=base.kb, full_range=full)


@dataclass(frozen=True)
class FrameColors:
    """How decoded frames become the output's YUV, and how the output is tagged.

    ``matrix`` converts overlay colours; ``reformat`` are the keyword arguments of
    ``VideoFrame.reformat`` for frames not already in the output's pixel format; ``tags``
    are the encoder's ``colorspace``, ``color_range``, ``color_primaries`` and ``color_trc``
    (FFmpeg's values), only those known.
    """

    matrix: YuvMatrix
    reformat: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, int] = field(default_factory=dict)


def frame_colors(frame: av.VideoFrame, *, display_width: int, display_height: int) -> FrameColors:
    """The colour handling for a video whose first decoded frame is ``frame``.

    YUV video keeps its matrix, range and tags (only the chroma layout or bit depth may
    change). RGB and grey video is converted to limited-range YUV with the matrix
    players assume for untagged video of its size (see :func:`matrix_for_frame`), and
    tagged so.
    """
    fmt = frame.format
    if not fmt.is_rgb and len(fmt.components) >= 3:
        matrix = matrix_for_frame(frame, display_width=display_width, display_height=display_height)
        color_range = ColorRange.JPEG if matrix.full_range else ColorRange.MPEG
        tags = {name: int(getattr(frame, name)) for name in ("colorspace", "color_primaries", "color_trc")
                if int(getattr(frame, name)) not in (0, _AVCOL_UNSPECIFIED)}
        return FrameColors(matrix, {"src_color_range": color_range, "dst_color_range": color_range},
                           {**tags, "color_range": int(color_range)})
    hd = display_width > 1024 or display_height > 576
    matrix, space = (BT709, Colorspace.ITU709) if hd else (BT601, Colorspace.ITU601)
    return FrameColors(matrix, {"dst_colorspace": space, "src_color_range": ColorRange.JPEG,
                                "dst_color_range": ColorRange.MPEG},
                       {"colorspace": _AVCOL_SPC_BT709 if hd else _AVCOL_SPC_SMPTE170M,
                        "color_range": int(ColorRange.MPEG)})


def plane_view(plane: av.video.plane.VideoPlane) -> np.ndarray:
    """The samples of an 8-bit plane as a uint8 ``[height, width]`` view (no copy)."""
    rows = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)
    return rows[:, :plane.width]


class PlanarOverlay:
    """An :class:`Overlay` prepared for planar 8-bit YUV (or greyscale) frames of one layout.

    ``chroma_shift`` is ``(log2 horizontal, log2 vertical)`` chroma subsampling: ``(1, 1)``
    for 4:2:0, ``(0, 0)`` for 4:4:4. The overlay must already be clipped to the frame.
    """

    def __init__(self, overlay: Overlay, matrix: YuvMatrix, chroma_shift: tuple[int, int]) -> None:
        self.overlay = overlay
        self.chroma_shift = chroma_shift
        y, u, v = matrix.from_rgb(overlay.rgb)
        a256 = (overlay.alpha.astype(np.uint32) * 256 + 127) // 255
        self._planes = [self._prepare(y, a256, overlay.x, overlay.y, (0, 0))]
        for values in (u, v):
            self._planes.append(self._prepare(values, a256, overlay.x, overlay.y, chroma_shift))

    def moved(self, dx: int) -> PlanarOverlay:
        """The same overlay ``dx`` pixels to the right (a multiple of the chroma block width).

        No conversion is redone; the caller keeps the result inside the frame.
        """
        sx = self.chroma_shift[0]
        if dx % (1 << sx):
            raise ValueError(f"dx ({dx}) must be a multiple of {1 << sx} for this chroma subsampling")
        other = object.__new__(PlanarOverlay)
        other.overlay = Overlay(self.overlay.x + dx, self.overlay.y, self.overlay.rgb, self.overlay.alpha)
        other.chroma_shift = self.chroma_shift
        other._planes = [(rows, slice(cols.start + (dx >> shift), cols.stop + (dx >> shift)), keep, add)
                         for (rows, cols, keep, add), shift in zip(self._planes, (0, sx, sx), strict=True)]
        return other

    def blend(self, planes: Sequence[np.ndarray]) -> None:
        """Draw the overlay into ``planes`` (Y, U, V uint8 views, modified in place).

        Only Y is drawn when one plane is given.
        """
        for plane, (rows, cols, keep, add) in zip(planes, self._planes, strict=False):
            region = plane[rows, cols]
            mixed = region.astype(np.uint16)
            mixed *= keep
            mixed += add
            mixed >>= 8
            region[...] = mixed

    @staticmethod
    def _prepare(values: np.ndarray, a256: np.ndarray, x: int, y: int,
                 shift: tuple[int, int]) -> tuple[slice, slice, np.ndarray, np.ndarray]:
        """Rows and columns in the plane, ``256 - a`` and ``value * a + 128`` as uint16."""
        sx, sy = shift
        bw, bh = 1 << sx, 1 << sy
        h, w = a256.shape
        # Pad to whole chroma blocks: the padding is transparent.
        x0, y0 = (x >> sx) << sx, (y >> sy) << sy
        pw = -(-(x + w - x0) // bw) * bw
        ph = -(-(y + h - y0) // bh) * bh
        alpha = np.zeros((ph, pw), np.float64)
        weighted = np.zeros((ph, pw), np.float64)
        alpha[y - y0:y - y0 + h, x - x0:x - x0 + w] = a256
        weighted[y - y0:y - y0 + h, x - x0:x - x0 + w] = a256 * values
        if bw > 1 or bh > 1:
            alpha = alpha.reshape(ph // bh, bh, pw // bw, bw).mean(axis=(1, 3))
            weighted = weighted.reshape(ph // bh, bh, pw // bw, bw).mean(axis=(1, 3))
        a = np.rint(alpha)
        keep = (256 - a).astype(np.uint16)
        # value * a, with the rounded opacity a (exact for luma, where alpha is already whole)
        premultiplied = np.clip(weighted * (a / np.maximum(alpha, 1e-9)), 0, 255 * 256)
        add = (np.rint(premultiplied) + 128).astype(np.uint16)
        rows = slice(y0 >> sy, (y0 >> sy) + alpha.shape[0])
        cols = slice(x0 >> sx, (x0 >> sx) + alpha.shape[1])
        return rows, cols, keep, add
