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

    pip install tensorflow-cpu torchvggish resampy soundfile   # the peers
    python benchmarks/features_speed.py [--work DIR]
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

# TensorFlow peers run as persistent worker processes: each line on stdin asks for one
# timed pass ("inception" over the frames at batch 1, "vggish B" over 256 examples at
# batch B) and gets the seconds back, so that TensorFlow and yt8m are measured in turn,
# interleaved, and the same load drift affects both.
_TF_WORKER = r"""
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
CKPT = a["ckpt"]
@@TF_VGGISH@@
ex = np.load(a["examples"])
ex = np.concatenate([ex] * (256 // len(ex) + 1))[:256]
sess.run("pool_3/_reshape:0", {"DecodeJpeg:0": frames[0]})
vsess.run(emb, {x: ex[:128]})
print("ready", flush=True)
for line in sys.stdin:
    cmd = line.split()
    t = time.perf_counter()
    if cmd[0] == "inception":
        for f in frames:
            sess.run("pool_3/_reshape:0", {"DecodeJpeg:0": f})
    else:
        bs = int(cmd[1])
        for i in range(0, 256 if bs > 1 else 32, bs):
            vsess.run(emb, {x: ex[i:i + bs]})
    print(time.perf_counter() - t, flush=True)
"""


def _fps(fn, n: int) -> float:
    t = time.perf_counter()
    fn()
    return n / (time.perf_counter() - t)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "yt8m-bench")
    parser.add_argument("--precision", default="float16", choices=["bfloat16", "float16"])
    parser.add_argument("--repeat", type=int, default=3, help="interleaved runs per figure; the best is kept")
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
    from yt8m.formats.quantize import quantize
    from yt8m.features.vggish import vggish
    from yt8m.media.audio import decode_audio
    from yt8m.media.video import decode_video, sample_frames_1hz

    official = args.work / "official"
    frames = [f.rgb for f in sample_frames_1hz(video, 0, 17_000_000)][:16]
    examples = log_mel_examples_from_file(video).examples
    np.save(args.work / "frames.npy", np.stack(frames))
    np.save(args.work / "examples.npy", examples)
    peer = _common.TfPeer(_TF_WORKER.replace("@@TF_VGGISH@@", _common.TF_VGGISH), json.dumps({
        "graph": str(official / "classify_image_graph_def.pb"), "frames": str(args.work / "frames.npy"),
        "ckpt": str(official / "vggish_model.ckpt"), "examples": str(args.work / "examples.npy")}))
    model = inception_v3(fetch=False)
    net = vggish(fetch=False)
    ex = torch.from_numpy(np.concatenate([examples] * (256 // len(examples) + 1))[:256])
    n = len(frames)

    def timed(fn) -> float:
        t = time.perf_counter()
        fn()
        return time.perf_counter() - t

    def settled(fn) -> float:
        """Run a measurement after a pause: TensorFlow's and OpenMP's worker threads spin for
        a while after their last task, which would slow whichever runs next."""
        time.sleep(0.5)
        return fn()

    runs: dict[str, list[float]] = {}
    with torch.inference_mode():
        model(preprocess(frames[:2]))
        net(ex[:2])
        for _ in range(args.repeat):  # interleaved: TensorFlow and yt8m see the same load
            for name, fn in (
                ("tf_inception", lambda: peer.time("inception")),
                ("inception_b1", lambda: timed(lambda: [model(preprocess([f])) for f in frames])),
                ("inception_b16", lambda: timed(lambda: model(preprocess(frames)))),
                ("tf_vggish_1", lambda: peer.time("vggish 1")),
                ("vggish_1", lambda: timed(lambda: [net(ex[i:i + 1]) for i in range(32)])),
                ("tf_vggish_128", lambda: peer.time("vggish 128")),
                ("vggish_128", lambda: timed(lambda: [net(ex[i:i + 128]) for i in range(0, 256, 128)])),
            ):
                runs.setdefault(name, []).append(settled(fn))
    peer.close()
    best = {k: min(v) for k, v in runs.items()}
    tf_fps, b1, b16 = n / best["tf_inception"], n / best["inception_b1"], n / best["inception_b16"]
    h, w = frames[0].shape[:2]
    print(f"Inception v3, {w}x{h} frames, best of {args.repeat} interleaved runs:")
    print(f"  TensorFlow 2015 GraphDef, one frame at a time: {tf_fps:6.2f} frames/s")
    print(f"  yt8m float32 batch 1:  {b1:6.2f} frames/s = {b1 / tf_fps:.2f}x TensorFlow")
    print(f"  yt8m float32 batch 16: {b16:6.2f} frames/s = {b16 / tf_fps:.2f}x TensorFlow")
    v = {k: (32 if k.endswith("_1") else 256) / best[k] for k in ("tf_vggish_1", "vggish_1", "tf_vggish_128",
                                                                   "vggish_128")}
    print(f"VGGish: TensorFlow batch 1 {v['tf_vggish_1']:.1f}, batch 128 {v['tf_vggish_128']:.1f} "
          f"examples/s; yt8m batch 1 {v['vggish_1']:.1f} ({v['vggish_1'] / v['tf_vggish_1']:.2f}x), "
          f"batch 128 {v['vggish_128']:.1f} ({v['vggish_128'] / v['tf_vggish_128']:.2f}x)")

    # --- reduced precision -------------------------------------------------------------------
    pca = load_pca("inception-pca", fetch=False)
    with torch.inference_mode():
        ref = pca(model(preprocess(frames)).numpy())
        f32 = min(timed(lambda: model(preprocess(frames))) for _ in range(2))
        # As the extractor runs it: the mixed blocks in the reduced precision, the stem float32.
        low = model.set_precision(getattr(torch, args.precision))
        x = preprocess(frames)
        low(x[:2])
        low_s = min(timed(lambda: low(x)) for _ in range(2))
        out = low(x).float().numpy()
    approx = pca(out)
    rel = np.abs(approx - ref).max(axis=1) / np.linalg.norm(ref, axis=1)
    dq = np.abs(quantize(approx).astype(int) - quantize(ref).astype(int))
    print(f"  yt8m {args.precision} batch 16: {f32 / low_s:.2f}x float32 speed; PCA features max relative "
          f"error {rel.max():.2e}; quantized bytes unchanged {np.mean(dq == 0):.1%}, "
          f"unchanged or off by one {np.mean(dq <= 1):.1%}")

    # --- video decoding --------------------------------------------------------------------
    def bare_decode() -> int:
        with av.open(str(video)) as c:
            stream = c.streams.video[0]
            stream.thread_type = "AUTO"
            return sum(1 for _ in c.decode(stream))

    n_frames = bare_decode()
    bare = ours = sampled = 0.0
    for _ in range(args.repeat):
        bare = max(bare, _fps(bare_decode, n_frames))
        ours = max(ours, _fps(lambda: sum(1 for _ in decode_video(video)), n_frames))
        sampled = max(sampled, _fps(lambda: sum(1 for _ in sample_frames_1hz(video)), n_frames))
    print(f"video decoding, 60 s 720p30 H.264 ({n_frames} frames): bare PyAV/FFmpeg {bare:.0f} frames/s; "
          f"yt8m decode_video {ours:.0f} frames/s = {ours / bare:.0%}; with 1 Hz sampling and RGB "
          f"{sampled:.0f} frames/s = {sampled / bare:.0%}")

    # --- audio front end ---------------------------------------------------------------------
    try:
        from torchvggish import vggish_input
    except ImportError:
        print("audio front end: pip install torchvggish resampy soundfile for the original numpy front end")
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
