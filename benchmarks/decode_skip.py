"""1 Hz decoding with and without skipping the frames the rule cannot choose, in one run.

On a generated 720p30 H.264 file with x264's default B-frames (3, b-pyramid; a slow pan
over a textured picture, so the decoder has real work), measures ``sample_frames_1hz``
(decode, choose, convert the chosen frames to RGB) with ``skip_unused=False`` (every frame
decoded) and ``skip_unused=True``, interleaved, best of ``--repeat`` runs each, and prints
video-seconds per second, the frames each path decoded, and the ratio. It also checks
that both paths give the same frames, byte for byte. Hardware decoding (``--hwaccel
cuda``) can be measured the same way on a machine with a GPU.

    python benchmarks/decode_skip.py [--seconds 60] [--repeat 3] [--work DIR] [--hwaccel cuda]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: F401  (puts tests/ on sys.path)


def make_panning_video(path: Path, *, seconds: int, width: int = 1280, height: int = 720,
                       fps: int = 30) -> Path:
    """A textured picture panning 3 px per frame, x264 veryfast (B-frames on); cached by name."""
    if path.exists():
        return path
    import av
    import numpy as np

    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (height // 8, (width + 3 * fps * seconds) // 8 + 2, 3), dtype=np.uint8)
    texture = np.repeat(np.repeat(small, 8, axis=0), 8, axis=1)  # 8x8 blocks: detail without pure noise
    tmp = path.with_name(path.stem + ".tmp" + path.suffix)
    with av.open(str(tmp), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "23", "bf": "3", "b-pyramid": "normal"}
        for i in range(seconds * fps):
            image = np.ascontiguousarray(texture[:, 3 * i:3 * i + width])
            frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    tmp.rename(path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "yt8m-bench")
    parser.add_argument("--hwaccel", choices=["none", "cuda"], default="none")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)

    from yt8m.media.video import decode_video, sample_frames_1hz

    video = make_panning_video(args.work / f"pan_720p30_{args.seconds}s.mp4", seconds=args.seconds)
    total = sum(1 for _ in decode_video(video, hwaccel=args.hwaccel))
    kept = sum(1 for _ in decode_video(video, only_1hz_candidates=(0, None), hwaccel=args.hwaccel))

    def run(skip: bool) -> tuple[float, list]:
        t = time.perf_counter()
        frames = list(sample_frames_1hz(video, skip_unused=skip, hwaccel=args.hwaccel))
        return time.perf_counter() - t, frames

    best = {False: float("inf"), True: float("inf")}
    outputs = {}
    for _ in range(args.repeat):
        for skip in (False, True):  # interleaved: both see the same load
            seconds, frames = run(skip)
            best[skip] = min(best[skip], seconds)
            outputs[skip] = frames
    same = [(f.period_time_us, f.source_pts_us, f.rgb.tobytes()) for f in outputs[False]] == [
        (f.period_time_us, f.source_pts_us, f.rgb.tobytes()) for f in outputs[True]]
    n = len(outputs[True])
    full_rate, skip_rate = n / best[False], n / best[True]
    print(f"sample_frames_1hz on {video.name} ({total} frames, {n} chosen, hwaccel={args.hwaccel}), "
          f"best of {args.repeat} interleaved runs:")
    print(f"  every frame decoded (skip_unused=False): {best[False]:.2f} s, {full_rate:.0f} video-s/s, "
          f"{total / best[False]:.0f} frames/s")
    print(f"  skipping (skip_unused=True): {best[True]:.2f} s, {skip_rate:.0f} video-s/s, "
          f"{kept} of {total} frames decoded ({kept / total:.0%})")
    print(f"  ratio: {best[False] / best[True]:.2f}x faster with skipping; same frames byte for byte: {same}")


if __name__ == "__main__":
    main()
