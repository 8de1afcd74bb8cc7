"""Annotation speed against a plain decode-and-re-encode of the same file, in one run.

On a generated 720p 30 fps H.264 clip with stereo AAC (20 s by default):

1. plain: decode every frame with PyAV, encode it with the same libx264 settings as
   ``yt8m annotate`` (:func:`yt8m.render.annotate.x264_options`, yuv420p, the input's
   timestamps), copy the audio packets, write an MP4 with ``+faststart``;
2. annotate: :func:`yt8m.render.annotate.annotate_video` on the same clip with 5 s
   windows every second (3 labels each, some non-ASCII) and the timeline.

The two alternate ``--repeats`` times; the fastest run of each counts. Printed: frames
per second of each (wall time) and annotate / plain (goal: >= 90%); and the same ratio in
CPU time (all threads of the process), which other load on the machine disturbs less.

    python benchmarks/annotate_speed.py [--work DIR] [--seconds 20] [--preset veryfast] [--crf 20]
                                        [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common
import av

from yt8m.render.annotate import annotate_video, mp4_options, x264_options

_NAMES = ("Concert", "Pokémon", "Association football", "Vehicle", "Arts & Entertainment", "Tōkyō",
          "Guitar", "Car", "Dance", "Animation, Cartoon: Anime")


def plain_reencode(src: Path, dst: Path, *, crf: int, preset: str) -> int:
    """Decode ``src`` and encode every frame again as annotate does, without drawing; frame count."""
    with av.open(str(src)) as inp:
        video = inp.streams.video[0]
        video.thread_type = "AUTO"
        audio = inp.streams.audio[0] if inp.streams.audio else None
        with av.open(str(dst), "w", format="mp4", options=mp4_options(video.time_base)) as out:
            stream = out.add_stream("libx264", rate=video.average_rate)
            stream.width, stream.height = video.codec_context.width, video.codec_context.height
            stream.pix_fmt = "yuv420p"
            stream.codec_context.time_base = video.time_base
            stream.time_base = video.time_base
            stream.options = x264_options(crf=crf, preset=preset)
            audio_out = out.add_stream_from_template(audio) if audio is not None else None
            frames = 0
            for packet in inp.demux([video] + ([audio] if audio is not None else [])):
                if packet.stream.type == "audio":
                    if packet.dts is not None and packet.size:
                        packet.stream = audio_out
                        out.mux(packet)
                    continue
                for frame in packet.decode():
                    if frame.format.name != "yuv420p":
                        frame = frame.reformat(format="yuv420p")
                    frame.pict_type = av.video.frame.PictureType.NONE  # let x264 choose, as for new frames
                    out.mux(stream.encode(frame))
                    frames += 1
            out.mux(stream.encode(None))
    return frames


def predictions(seconds: int) -> dict:
    """Windows of 5 s starting every second, as ``yt8m predict`` writes them."""
    windows = []
    for start in range(max(1, seconds - 4)):
        labels = [{"index": (start * 3 + k) % 3862, "name": _NAMES[(start + k) % len(_NAMES)],
                   "score": round(0.9 - 0.3 * k - 0.01 * start, 4)} for k in range(3)]
        windows.append({"start_s": float(start), "end_s": float(start + 5), "labels": labels})
    return {"num_seconds": seconds, "segment_size": 5, "overlap": 4, "windows": windows, "notes": []}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "yt8m-bench")
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--preset", default="veryfast")
    parser.add_argument("--crf", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    clip = _common.make_test_video(args.work / f"annotate_720p30_{args.seconds}s.mp4",
                                   duration_s=args.seconds, width=1280, height=720, fps=30)
    preds = predictions(args.seconds)
    best = {"plain": float("inf"), "annotate": float("inf")}
    cpu = {"plain": float("inf"), "annotate": float("inf")}
    frames = {}

    def timed(name: str, run) -> None:
        t0, c0 = time.perf_counter(), time.process_time()
        frames[name] = run()
        best[name] = min(best[name], time.perf_counter() - t0)
        cpu[name] = min(cpu[name], time.process_time() - c0)

    for _ in range(args.repeats):
        timed("plain", lambda: plain_reencode(clip, args.work / "plain.mp4", crf=args.crf,
                                              preset=args.preset))
        timed("annotate", lambda: annotate_video(clip, preds, args.work / "annotated.mp4", crf=args.crf,
                                                 preset=args.preset, progress=False).frames)
    fps = {k: frames[k] / best[k] for k in best}
    ratio = fps["annotate"] / fps["plain"]
    cpu_ratio = cpu["plain"] / cpu["annotate"]
    print(f"clip: {clip.name}, {frames['plain']} frames 1280x720, libx264 preset={args.preset} "
          f"crf={args.crf}")
    print(f"plain decode + re-encode: {fps['plain']:.1f} frames/s (best of {args.repeats})")
    print(f"yt8m annotate:            {fps['annotate']:.1f} frames/s (best of {args.repeats})")
    print(f"annotate / plain: {ratio:.1%} (goal >= 90%); in CPU time: {cpu_ratio:.1%} "
          f"({cpu['plain']:.1f} s vs {cpu['annotate']:.1f} s)")
    print(json.dumps({"plain_fps": round(fps["plain"], 2), "annotate_fps": round(fps["annotate"], 2),
                      "ratio": round(ratio, 4), "cpu_ratio": round(cpu_ratio, 4), "frames": frames["plain"],
                      "preset": args.preset, "crf": args.crf}))


if __name__ == "__main__":
    main()
