"""What is drawn on an annotated frame, as RGBA pictures independent of any video.

An :class:`Overlay` is a small RGB picture with per-pixel opacity placed at a position
of the frame; :meth:`Overlay.composite` is what drawing it means (``out = rgb * a +
frame * (1 - a)``, ``a = alpha / 255``). Two things make overlays:

- :class:`LabelPainter`: the label lines, ``"name: 0.91"``, top-left, one line per rank
  in :data:`RANK_COLORS` (red, green, blue), each glyph outlined in black so the text
  reads on any background. The text size follows the frame: :func:`text_size_px`.
- :class:`Timeline`: a thin bar along the bottom edge: a translucent dark track, each
  window's span in its top label's colour (:func:`label_color`), and a white marker at
  the current time.

Text is rendered with Pillow and the DejaVu Sans Bold subset shipped in ``fonts/``
(Latin, Greek, Cyrillic and common symbols; see ``fonts/README``), so it looks the same
on every machine. A character the font lacks is drawn as its unaccented base letter
when it has one (compatibility decomposition), else as ``?``.
"""

from __future__ import annotations

import functools
import io
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from yt8m.render.label_windows import ShownLabel

__all__ = [
    "RANK_COLORS",
    "LabelPainter",
    "Overlay",
    "Timeline",
    "label_color",
    "load_font",
    "text_size_px",
]

RGB = tuple[int, int, int]

#: Text colours by rank (1st, 2nd, 3rd; then repeated): red, green, blue, lightened a
#: little from pure primaries so that each stays readable inside its black outline.
RANK_COLORS: tuple[RGB, ...] = ((255, 48, 48), (48, 230, 48), (64, 140, 255))

#: Colours of top labels on the timeline, chosen by class index (:func:`label_color`).
_PALETTE: tuple[RGB, ...] = (
    (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180),
    (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212), (0, 128, 128), (220, 190, 255),
    (170, 110, 40), (255, 250, 200), (128, 0, 0), (170, 255, 195), (128, 128, 0), (255, 215, 180),
)

_FONT_FILE = "DejaVuSans-Bold-subset.ttf"
_MIN_TEXT_PX = 9


@dataclass(frozen=True, repr=False)
class Overlay:
    """An RGB picture with opacity, to be drawn with its top-left corner at ``(x, y)``.

    ``rgb`` is uint8 ``[h, w, 3]``; ``alpha`` is uint8 ``[h, w]``, 0 (transparent) to 255
    (opaque). Pixels with ``alpha > 0`` (:attr:`mask`) are exactly the ones drawn. ``x``
    and ``y`` may be negative or put part of the picture outside a frame; only the part
    inside is drawn (:meth:`clipped`).
    """

    x: int
    y: int
    rgb: np.ndarray
    alpha: np.ndarray

    def __post_init__(self) -> None:
        rgb, alpha = self.rgb, self.alpha
        if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
            raise ValueError(f"rgb must be a uint8 array [h, w, 3], got {rgb.dtype} {rgb.shape}")
        if alpha.dtype != np.uint8 or alpha.shape != rgb.shape[:2]:
            raise ValueError(f"alpha must be a uint8 array {list(rgb.shape[:2])}, "
                             f"got {alpha.dtype} {alpha.shape}")

    @property
    def width(self) -> int:
        return self.rgb.shape[1]

    @property
    def height(self) -> int:
        return self.rgb.shape[0]

    @property
    def mask(self) -> np.ndarray:
        """Boolean ``[h, w]``: True where the overlay changes the frame."""
        return self.alpha > 0

    def clipped(self, width: int, height: int) -> Overlay | None:
        """The part inside a ``width`` x ``height`` frame, or ``None`` if nothing is."""
        x0, y0 = max(self.x, 0), max(self.y, 0)
        x1, y1 = min(self.x + self.width, width), min(self.y + self.height, height)
        if x1 <= x0 or y1 <= y0:
            return None
        if (x0, y0, x1, y1) == (self.x, self.y, self.x + self.width, self.y + self.height):
            return self
        rows = slice(y0 - self.y, y1 - self.y)
        cols = slice(x0 - self.x, x1 - self.x)
        return Overlay(x0, y0, np.ascontiguousarray(self.rgb[rows, cols]),
                       np.ascontiguousarray(self.alpha[rows, cols]))

    def frame_mask(self, width: int, height: int) -> np.ndarray:
        """Boolean ``[height, width]``: the frame pixels this overlay changes."""
        mask = np.zeros((height, width), bool)
        part = self.clipped(width, height)
        if part is not None:
            mask[part.y:part.y + part.height, part.x:part.x + part.width] = part.mask
        return mask

    def composite(self, frame_rgb: np.ndarray) -> np.ndarray:
        """``frame_rgb`` (uint8 ``[H, W, 3]``) with this overlay drawn on it, as a new array.

        The definition of drawing, in floating point and rounded to nearest; the video path
        draws the same in YUV (see :mod:`yt8m.render.yuv`).
        """
        out = frame_rgb.copy()
        part = self.clipped(frame_rgb.shape[1], frame_rgb.shape[0])
        if part is None:
            return out
        region = out[part.y:part.y + part.height, part.x:part.x + part.width].astype(np.float32)
        a = part.alpha[..., None].astype(np.float32) / 255.0
        blended = part.rgb.astype(np.float32) * a + region * (1.0 - a)
        out[part.y:part.y + part.height, part.x:part.x + part.width] = np.rint(blended).astype(np.uint8)
        return out

    def __repr__(self) -> str:
        drawn = int(self.mask.sum())
        return f"Overlay(x={self.x}, y={self.y}, size={self.width}x{self.height}, drawn={drawn} px)"


def text_size_px(width: int, height: int) -> int:
    """The label text size (font em, pixels) for a ``width`` x ``height`` frame.

    1/24 of the shorter side, at least 9 px: 30 px at 720p, 45 px at 1080p, 15 px at
    360p. The reference draws about 20 px high text whatever the size.
    """
    return max(_MIN_TEXT_PX, round(min(width, height) / 24))


def label_color(index: int) -> RGB:
    """The timeline colour of class ``index`` (the same class always gets the same colour)."""
    return _PALETTE[(index * 7) % len(_PALETTE)]


@functools.lru_cache(maxsize=16)
def load_font(size_px: int) -> ImageFont.FreeTypeFont:
    """The shipped DejaVu Sans Bold subset at ``size_px`` pixels per em."""
    data = resources.files("yt8m.render").joinpath("fonts").joinpath(_FONT_FILE).read_bytes()
    return ImageFont.truetype(io.BytesIO(data), size=size_px)


class LabelPainter:
    """Renders label lines as an :class:`Overlay` for frames of one size.

    Geometry, in pixels, from the text size ``s`` (:func:`text_size_px`): the first line's
    top at ``s / 2`` from the top-left corner, one line every ``1.25 s``, a black outline
    of ``max(1, s / 12)`` around every glyph. Line ``i`` is in ``RANK_COLORS[i % 3]``.
    """

    def __init__(self, frame_width: int, frame_height: int) -> None:
        self.frame_width = frame_width
        self.frame_height = frame_height
        self.size_px = text_size_px(frame_width, frame_height)
        self.font = load_font(self.size_px)
        self.margin_px = max(1, self.size_px // 2)
        self.line_step_px = round(self.size_px * 1.25)
        self.outline_px = max(1, round(self.size_px / 12))

    def render(self, labels: Sequence[ShownLabel]) -> Overlay | None:
        """The overlay for ``labels`` (best first), clipped to the frame; ``None`` when empty."""
        lines = [drawable_text(label.text, self.font) for label in labels]
        if not lines:
            return None
        pad = self.outline_px
        widths = [self.font.getbbox(line, stroke_width=pad, anchor="la")[2] for line in lines]
        ascent, descent = self.font.getmetrics()
        size = (max(widths) + 2 * pad, (len(lines) - 1) * self.line_step_px + ascent + descent + 2 * pad)
        color = Image.new("RGB", size, (0, 0, 0))
        coverage = Image.new("L", size, 0)
        draw_color, draw_coverage = ImageDraw.Draw(color), ImageDraw.Draw(coverage)
        for i, line in enumerate(lines):
            xy = (pad, pad + i * self.line_step_px)
            draw_color.text(xy, line, font=self.font, fill=RANK_COLORS[i % len(RANK_COLORS)], anchor="la",
                            stroke_width=pad, stroke_fill=(0, 0, 0))
            draw_coverage.text(xy, line, font=self.font, fill=255, anchor="la", stroke_width=pad,
                               stroke_fill=255)
        overlay = Overlay(self.margin_px - pad, self.margin_px - pad, np.asarray(color), np.asarray(coverage))
        return overlay.clipped(self.frame_width, self.frame_height)


class Timeline:
    """A bar along the bottom of the frame: which window's labels are shown when.

    ``spans`` are ``(start_s, stop_s, index)``: from ``start_s`` to ``stop_s`` (seconds)
    the frame shows a window whose top label is class ``index`` (``None``: a window
    showing no label). The bar maps ``[0, duration_s]`` onto the frame's width, is
    ``max(3, height / 80)`` px high, has a translucent dark track, opaque spans in
    :func:`label_color`, and a white marker at the current time (:meth:`marker`), about
    a third of the bar's height wide.
    """

    def __init__(self, spans: Sequence[tuple[float, float, int | None]], *, duration_s: float,
                 frame_width: int, frame_height: int) -> None:
        self.frame_width = frame_width
        self.duration_s = max(duration_s, 1e-6)
        self.height_px = min(frame_height, max(3, round(frame_height / 80)))
        self.y = frame_height - self.height_px
        self.marker_width_px = min(frame_width, 2 * max(1, round(self.height_px / 6)))
        self.bar = self._bar(spans)

    def x_at(self, time_s: float) -> int:
        """The bar's column for ``time_s`` (clamped to the frame)."""
        return min(self.frame_width - 1, max(0, int(time_s / self.duration_s * self.frame_width)))

    def marker_x(self, time_s: float) -> int:
        """The marker's left column at ``time_s``: even, so that it moves by whole chroma blocks."""
        return max(0, min(self.x_at(time_s), self.frame_width - self.marker_width_px)) // 2 * 2

    def marker(self, time_s: float) -> Overlay:
        """A white tick over the bar at ``time_s`` (an even number of pixels wide, at an even column)."""
        w = self.marker_width_px
        rgb = np.full((self.height_px, w, 3), 255, np.uint8)
        return Overlay(self.marker_x(time_s), self.y, rgb, np.full((self.height_px, w), 255, np.uint8))

    def _bar(self, spans: Sequence[tuple[float, float, int | None]]) -> Overlay:
        rgb = np.zeros((self.height_px, self.frame_width, 3), np.uint8)
        alpha = np.full((self.height_px, self.frame_width), 128, np.uint8)
        for start_s, stop_s, index in spans:
            if index is None:
                continue
            x0, x1 = self.x_at(start_s), self.x_at(stop_s)
            x1 = max(x1, x0 + 1)
            rgb[:, x0:x1] = label_color(index)
            alpha[:, x0:x1] = 255
        return Overlay(0, self.y, rgb, alpha)


def drawable_text(text: str, font: ImageFont.FreeTypeFont) -> str:
    """``text`` on one line (whitespace as spaces), each character ``font`` lacks replaced by
    its base letters (compatibility decomposition without accents), or ``?``."""
    return "".join(_drawable_char(ch, font) for ch in unicodedata.normalize("NFC", text))


def _drawable_char(ch: str, font: ImageFont.FreeTypeFont) -> str:
    if ch.isspace():
        return " "  # a label stays one line
    if _has_glyph(font, ch):
        return ch
    base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
    if base and all(_has_glyph(font, c) for c in base):
        return base
    return "?"


@functools.lru_cache(maxsize=4096)
def _has_glyph(font: ImageFont.FreeTypeFont, ch: str) -> bool:
    """Whether ``font`` has a glyph for ``ch``: its rendering differs from the missing-glyph box."""
    if ch.isspace() or not ch.isprintable():
        return ch == " "
    return _glyph_image(font, ch) != _glyph_image(font, "\uffff")


def _glyph_image(font: ImageFont.FreeTypeFont, ch: str) -> tuple[tuple[int, int], bytes]:
    left, top, right, bottom = font.getbbox(ch)
    image = Image.new("L", (max(1, right - left), max(1, bottom - top)))
    ImageDraw.Draw(image).text((-left, -top), ch, font=font, fill=255)
    return image.size, image.tobytes()
