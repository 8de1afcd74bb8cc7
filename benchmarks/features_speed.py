"""Speed of each feature stage against its reference peer, every figure a ratio from one run.

* Inception v3: frames/s at batch 1 and 16 (float32, and the reduced-precision mode)
  against TensorFlow running the 2015-structured GraphDef one frame at a time (the
  reference path); the reduced-precision mode's fidelity: relative error of the PCA
  features and the share of quantized bytes unchanged or off by one.
* Video decoding: frames/s of yt8m's decoder (every frame decoded, the 1 Hz choices
  converted to RGB) against a bare PyAV/FFmpeg decode of the same file (same codec
  and threads, no conversion) on a 60 s 720p30 H.264 file.
* VGGish: examples/s at batch 1 and 128 against TensorFlow's VGGish on the same checkpoint.
* Audio front end: seconds of audio per second for decode + resample + log-mel against
  the original numpy VGGish front end (``vggish_input.waveform_to_examples``, resampy;
  the torchvggish package carries a copy), given the same decoded samples.

    pip install tensorflow-cpu torchvggish resampy   # the peers
    python benchmarks/features_speed.py [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common

_TF_INCEPTION = r"""
import json, sys, time, os
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np, tensorflow as tf
from tensorflow.core.framework import graph_pb2
a = json.loads(sys.argv[1])
g = tf.Graph()
with g.as_default():
    tf.import_graph_def(graph_pb2.GraphDef.FromString(open(a["graph"], "rb").read()), name="")
sess = tf.compat.v1.Session(graph=g)
frames = np.load(a["frames"])
sess.run("pool_3/_reshape:0", {"DecodeJpeg:0": frames[0]})
t = time.perf_counter()
for f in frames:
    sess.run("pool_3/_reshape:0", {"DecodeJpeg:0": f})
print(json.dumps({"fps": len(frames) / (time.perf_counter() - t)}))
"""

_TF_VGGISH = r"""
import json, sys, time, os
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np, tensorflow as tf
a = json.loads(sys.argv[1])
CKPT = a["ckpt"]
@@TF_VGGISH@@
sess, emb = vsess, emb
ex = np.load(a["examples"])
out = {}
for bs in (1, 128):
    sess.run(emb, {x: ex[:bs]})
    n = 32 if bs == 1 else 256
    t = time.perf_counter()
    for i in range(0, n, bs):
        sess.run(emb, {x: ex[i % len(ex):i % len(ex) + bs]})
    out[str(bs)] = n / (time.perf_counter() - t)
print(json.dumps(out))
"""


_TF_VGGISH = _TF_VGGISH.replace("@@TF_VGGISH@@", _common.TF_VGGISH)


def _tf(code: str, **kwargs: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", code, json.dumps(kwargs)], capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _fps(fn, n: int) -> float:
    t = time.perf_counter()
    fn()
    return n / (time.perf_counter() - t)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "yt8m-bench")
    parser.add_argument("--precision", default="bfloat16", choices=["bfloat16", "float16"])
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    _common.ensure_weights(args.work)
    video = _common.make_test_video(args.work / "720p30_60s.mp4", duration_s=60, width=1280, height=720)

    import av
    import numpy as np
    import torch

    from yt8m.features.inception import inception_v3, preprocess
    from yt8m.features.logmel import log_mel_examples_from_file
    from yt8m.features.pca import load_pca
    from yt8m.features.quantize import quantize
    from yt8m.features.vggish import vggish
    from yt8m.media.audio import decode_audio
    from yt8m.media.video import decode_video, sample_frames_1hz

    official = args.work / "official"
    frames = [f.rgb for f in sample_frames_1hz(video, 0, 17_000_000)][:16]

    # --- Inception ---------------------------------------------------------------------------
    np.save(args.work / "frames.npy", np.stack(frames))
    tf_fps = _tf(_TF_INCEPTION, graph=str(official / "classify_image_graph_def.pb"),
                 frames=str(args.work / "frames.npy"))["fps"]
    model = inception_v3(fetch=False)
    pca = load_pca("inception-pca", fetch=False)
    with torch.inference_mode():
        model(preprocess(frames[:2]))
        b1 = _fps(lambda: [model(preprocess([f])) for f in frames], len(frames))
        b16 = _fps(lambda: model(preprocess(frames)), len(frames))
        ref = pca(model(preprocess(frames)).numpy())
        low = model.to(dtype=getattr(torch, args.precision))
        x = preprocess(frames, dtype=getattr(torch, args.precision))
        low(x[:2])
        t = time.perf_counter()
        out = low(x).float().numpy()
        low_fps = len(frames) / (time.perf_counter() - t)
    approx = pca(out)
    rel = np.abs(approx - ref).max(axis=1) / np.linalg.norm(ref, axis=1)
    dq = np.abs(quantize(approx).astype(int) - quantize(ref).astype(int))
    print(f"Inception v3, 480x640 frames: TensorFlow GraphDef (batch 1) {tf_fps:.1f} frames/s")
    print(f"  yt8m float32 batch 1:  {b1:6.1f} frames/s = {b1 / tf_fps:.2f}x TensorFlow")
    print(f"  yt8m float32 batch 16: {b16:6.1f} frames/s = {b16 / tf_fps:.2f}x TensorFlow")
    print(f"  yt8m {args.precision} batch 16: {low_fps:6.1f} frames/s = {low_fps / b16:.2f}x float32; "
          f"PCA features max relative error {rel.max():.2e}; quantized bytes unchanged {np.mean(dq == 0):.1%}, "
          f"unchanged or off by one {np.mean(dq <= 1):.1%}")

    # --- video decoding --------------------------------------------------------------------
    def bare_decode() -> int:
        with av.open(str(video)) as c:
            stream = c.streams.video[0]
            stream.thread_type = "AUTO"
            return sum(1 for _ in c.decode(stream))

    n_frames = bare_decode()
    bare = _fps(bare_decode, n_frames)
    ours = _fps(lambda: sum(1 for _ in decode_video(video)), n_frames)
    sampled = _fps(lambda: sum(1 for _ in sample_frames_1hz(video)), n_frames)
    print(f"video decoding, 60 s 720p30 H.264 ({n_frames} frames): bare PyAV/FFmpeg {bare:.0f} frames/s; "
          f"yt8m decode_video {ours:.0f} frames/s = {ours / bare:.0%}; with 1 Hz sampling and RGB "
          f"{sampled:.0f} frames/s = {sampled / bare:.0%}")

    # --- VGGish ------------------------------------------------------------------------------
    examples = log_mel_examples_from_file(video).examples
    np.save(args.work / "examples.npy", examples)
    tf_v = _tf(_TF_VGGISH, ckpt=str(official / "vggish_model.ckpt"), examples=str(args.work / "examples.npy"))
    net = vggish(fetch=False)
    ex = torch.from_numpy(np.concatenate([examples] * 5))
    with torch.inference_mode():
        net(ex[:1])
        v1 = _fps(lambda: [net(ex[i:i + 1]) for i in range(32)], 32)
        v128 = _fps(lambda: [net(ex[i:i + 128]) for i in range(0, 256, 128)], 256)
    print(f"VGGish: TensorFlow batch 1 {tf_v['1']:.1f}, batch 128 {tf_v['128']:.1f} examples/s; "
          f"yt8m batch 1 {v1:.1f} ({v1 / tf_v['1']:.2f}x), batch 128 {v128:.1f} ({v128 / tf_v['128']:.2f}x)")

    # --- audio front end ---------------------------------------------------------------------
    try:
        from torchvggish import vggish_input
    except ImportError:
        print("audio front end: pip install torchvggish resampy for the original numpy front end")
        return
    t = time.perf_counter()
    ours_ex = log_mel_examples_from_file(video, mode="vggish").examples
    ours_s = time.perf_counter() - t
    t = time.perf_counter()
    chunk = decode_audio(video)
    original = vggish_input.waveform_to_examples(chunk.samples.astype(np.float64), chunk.sample_rate)
    orig_s = time.perf_counter() - t
    audio_s = chunk.duration_s
    print(f"audio front end, {audio_s:.0f} s of 44.1 kHz stereo AAC: yt8m {audio_s / ours_s:.0f} audio-s/s, "
          f"original numpy VGGish (decode + resampy + mel) {audio_s / orig_s:.0f} audio-s/s = "
          f"{orig_s / ours_s:.2f}x; examples {len(ours_ex)} vs {len(original)}")


if __name__ == "__main__":
    main()
