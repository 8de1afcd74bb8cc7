"""yt8m on a CUDA GPU: agreement with the CPU, the reduced precisions, and speed.

Needs a CUDA device. Every figure is measured in this one run on one machine:

1. fidelity: ``Extractor`` on CUDA against the same extraction on the CPU (float32), and
   CUDA bfloat16/float16 against CUDA float32, on one generated video: max relative error
   of the PCA features (max |a - b| / max |b|) and the share of quantized bytes that are
   unchanged, or off by one;
2. model throughput on the GPU: Inception frames/s at batch 64 and VGGish examples/s at
   batch 128, per precision, as ratios to float32 and to this machine's CPU;
3. end-to-end extraction (decode, models, PCA) on CUDA against the CPU: video-s/s;
4. ``yt8m extract --device cuda`` through the CLI: exit status and a readable output;
5. the native classifier families (the starter code's default sizes, random weights) on
   CUDA against the CPU: largest score difference and videos/s, 300-frame videos.

The weights are generated (the real ones cannot be fetched where this runs): the real
architectures with random weights, Inception's batch norm calibrated on frames of the
video so that activations have realistic scales, written into a yt8m cache.

    python benchmarks/gpu_check.py [--work DIR] [--seconds 60]
"""

from __future__ import annotations

import argparse
import copy
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common


def _write_weights(home: Path, video: Path) -> None:
    """Random weights of the real architectures, in yt8m's cache, under ``home``."""
    os.environ["YT8M_HOME"] = str(home)
    from safetensors.numpy import save_file

    from yt8m.artifacts import cache, manifest
    from yt8m.features.inception import ConvBN, InceptionV3, preprocess
    from yt8m.features.vggish import VGGish
    from yt8m.media.video import sample_frames_1hz
    from yt8m.weights import store

    if all(store.model_path(m).exists() for m in ("inception", "inception-pca", "vggish", "vggish-pca")):
        return
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    inception = InceptionV3().eval()
    for layer in inception.conv_layers():
        torch.nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
        layer.beta.normal_(0.0, 0.2)

    def calibrate(layer: ConvBN, args: tuple[torch.Tensor]) -> None:
        # Batch-norm statistics from the data, layer after layer, as training leaves them.
        y = torch.nn.functional.conv2d(args[0], layer.weight, None, layer.stride, layer.padding)
        layer.moving_mean.copy_(y.mean(dim=(0, 2, 3)))
        layer.moving_variance.copy_(y.var(dim=(0, 2, 3)))

    hooks = [m.register_forward_pre_hook(calibrate) for m in inception.conv_layers()]
    frames = [f.rgb for f in sample_frames_1hz(video, 0, 8_000_000)]
    with torch.no_grad():
        inception(preprocess(frames).contiguous())
    for h in hooks:
        h.remove()
    vggish = VGGish()
    for m in vggish.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
            torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            torch.nn.init.normal_(m.bias, 0.0, 0.05)
    with torch.no_grad():  # scale the embedding to the spread the PCA's inputs have
        vggish.fc2.weight.mul_(0.05)
    models = {
        "inception": {k: v.numpy() for k, v in inception.state_dict().items()},
        "vggish": {k: v.numpy() for k, v in vggish.state_dict().items()},
        "inception-pca": {"mean": rng.normal(0.0, 0.1, 2048).astype(np.float32),
                          "projection": rng.normal(0.0, 1 / np.sqrt(2048), (1024, 2048)).astype(np.float32)},
        "vggish-pca": {"mean": rng.normal(0.0, 0.1, 128).astype(np.float32),
                       "projection": rng.normal(0.0, 1 / np.sqrt(128), (128, 128)).astype(np.float32)},
    }
    for name, tensors in models.items():
        path = store.model_path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        save_file(tensors, str(path), metadata={"meta": "{}"})
        manifest.record_model(name, path, sha256=cache.sha256_of(path), sources={},
                              shapes={k: tuple(v.shape) for k, v in tensors.items()}, meta={})


def _compare(a: np.ndarray, b: np.ndarray) -> str:
    from yt8m.formats.quantize import quantize

    rel = float(np.abs(a - b).max() / np.abs(b).max())
    qa, qb = quantize(a).astype(int), quantize(b).astype(int)
    same, near = float(np.mean(qa == qb)), float(np.mean(np.abs(qa - qb) <= 1))
    return (f"max relative error {rel:.1e}, quantized bytes unchanged {same:.1%}, "
            f"unchanged or off by one {near:.1%}")


def _throughput(fn, n: int, *, repeat: int = 5) -> float:
    """Items per second, best of ``repeat`` after a warm-up (synchronised on CUDA)."""
    fn()
    torch.cuda.synchronize()
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
    return n / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "yt8m-gpu-check")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the generated video")
    parser.add_argument("--videos", type=int, default=8, help="videos (and decode workers) in the batch run")
    parser.add_argument("--sections", default="extract,models,cli,classifiers",
                        help="comma-separated: which of extract (1, 3), models (2), cli (4), classifiers (5) "
                             "to run")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        sys.exit("gpu_check: PyTorch sees no CUDA device here")
    args.work.mkdir(parents=True, exist_ok=True)
    video = _common.make_test_video(args.work / f"720p30_{args.seconds:g}s.mp4", duration_s=args.seconds,
                                    width=1280, height=720)
    _write_weights(args.work / "weights_home", video)

    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} CPU threads; video: {args.seconds:g} s 720p30 H.264 + stereo AAC")
    sections = set(args.sections.split(","))
    if "extract" in sections:
        _extraction(video, seconds=args.seconds, videos=args.videos)
    if "models" in sections:
        _models()
    if "cli" in sections:
        _cli(video, args.work)
    if "classifiers" in sections:
        _classifiers()


def _extraction(video: Path, *, seconds: float, videos: int) -> None:
    """1 and 3: whole extractions, CPU against CUDA and the precisions against float32."""
    from yt8m.extraction import ExtractOptions, Extractor, Job
    from yt8m.features.sequence import FeatureSequence

    runs: dict[str, tuple[FeatureSequence, float, float]] = {}
    jobs = [Job(video, key=i) for i in range(videos)]
    for name, device, precision in (("cpu", "cpu", "float32"), ("cuda", "cuda", "float32"),
                                    ("cuda bfloat16", "cuda", "bfloat16"),
                                    ("cuda float16", "cuda", "float16")):
        extractor = Extractor(ExtractOptions(device=device, precision=precision), fetch=False)
        extractor.extract(video)  # warm-up: kernels, allocator, the batch shapes a video makes
        t = time.perf_counter()
        one = extractor.extract(video)
        one_s = time.perf_counter() - t
        t = time.perf_counter()
        assert all(r.error is None for r in extractor.run(jobs, workers=videos))
        runs[name] = (one, one_s, time.perf_counter() - t)
        del extractor
    cpu = runs["cpu"][0]
    print("fidelity (PCA features):")
    for name, (feats, _, _) in runs.items():
        if name == "cpu":
            continue
        ref = cpu if name == "cuda" else runs["cuda"][0]
        against = "CPU float32" if name == "cuda" else "CUDA float32"
        assert ref.audio is not None and feats.audio is not None
        assert feats.rgb.shape == ref.rgb.shape and feats.audio.shape == ref.audio.shape
        print(f"  {name:14s} vs {against}: rgb {_compare(feats.rgb, ref.rgb)}")
        print(f"  {'':14s}    {'':{len(against)}s}  audio {_compare(feats.audio, ref.audio)}")
    print("end-to-end extraction (decode + models + PCA):")
    for name, (_, one_s, many_s) in runs.items():
        print(f"  {name:14s} one video: {seconds / one_s:6.1f} video-s/s = {runs['cpu'][1] / one_s:4.2f}x "
              f"the CPU; {videos} videos, {videos} workers: "
              f"{videos * seconds / many_s:6.1f} video-s/s = {runs['cpu'][2] / many_s:4.2f}x the CPU")


def _models() -> None:
    """2: the models alone, inputs already on the device."""
    from yt8m.features.inception import inception_v3
    from yt8m.features.vggish import vggish

    print("models alone:")
    frames = torch.randn(64, 3, 299, 299)
    examples = torch.randn(128, 96, 64)
    with torch.inference_mode():
        base: dict[str, float] = {}
        for device in ("cpu", "cuda"):
            for dtype in ((torch.float32,) if device == "cpu" else (torch.float32, torch.bfloat16,
                                                                    torch.float16)):
                inc = inception_v3(device=device, fetch=False).to(dtype)
                vgg = vggish(device=device, fetch=False).to(dtype)
                x = frames.to(device, dtype).contiguous(memory_format=torch.channels_last)
                e = examples.to(device, dtype)
                repeat = 5 if device == "cuda" else 1
                fps = _throughput(lambda m=inc, t=x: m(t), len(x), repeat=repeat)
                eps = _throughput(lambda m=vgg, t=e: m(t), len(e), repeat=repeat)
                key = f"{device} {str(dtype).removeprefix('torch.')}"
                base.setdefault("inc", fps)
                base.setdefault("vgg", eps)
                print(f"  {key:14s} Inception batch 64: {fps:8.1f} frames/s ({fps / base['inc']:6.1f}x CPU); "
                      f"VGGish batch 128: {eps:8.1f} examples/s ({eps / base['vgg']:6.1f}x CPU)")


def _cli(video: Path, work: Path) -> None:
    """4: ``yt8m extract --device cuda`` in a subprocess, against the API on the same clip."""
    from yt8m.extraction import ExtractOptions, Extractor
    from yt8m.features.sequence import FeatureSequence

    out = work / "cli_features.pb"
    out.unlink(missing_ok=True)
    proc = subprocess.run([sys.executable, "-m", "yt8m", "extract", str(video), "--device", "cuda",
                           "--end", "10", "-o", str(out)], check=False, capture_output=True, text=True,
                          env={**os.environ, "YT8M_HOME": str(work / "weights_home")})
    if proc.returncode:
        print(f"CLI `yt8m extract --device cuda --end 10`: exit {proc.returncode}\n{proc.stderr}")
        return
    written = FeatureSequence.read(out)
    ref = Extractor(ExtractOptions(device="cuda"), fetch=False).extract(video, end_s=10.0)
    print(f"CLI `yt8m extract --device cuda --end 10`: exit 0, {written.num_seconds} s of features, "
          f"rgb against the API's CUDA run: {_compare(written.rgb, ref.rgb)}")


def _classifiers() -> None:
    """5: the native classifier families on CUDA against the CPU."""
    from yt8m.inference.classifiers.native import FAMILIES, NativeClassifier, build_model

    rng = np.random.default_rng(0)
    videos, frames_per_video = 32, 300
    feats = rng.normal(0.0, 0.5, (videos, frames_per_video, 1152)).astype(np.float32)
    num_frames = rng.integers(60, frames_per_video + 1, videos)
    print(f"classifiers, {videos} videos of up to {frames_per_video} frames, 3862 classes:")
    for family in FAMILIES:
        model = build_model(family, num_classes=3862, seed=1)
        on_cpu = NativeClassifier(copy.deepcopy(model), device="cpu")  # the wrapper moves its model
        on_gpu = NativeClassifier(model, device="cuda")
        a, b = on_cpu.predict(feats, num_frames), on_gpu.predict(feats, num_frames)
        cpu_vps = _throughput(lambda c=on_cpu: c.predict(feats, num_frames), videos, repeat=2)
        gpu_vps = _throughput(lambda c=on_gpu: c.predict(feats, num_frames), videos, repeat=5)
        print(f"  {family:22s} max |score difference| {np.abs(a - b).max():.1e}; "
              f"{gpu_vps:8.1f} videos/s = {gpu_vps / cpu_vps:5.1f}x the CPU")


if __name__ == "__main__":
    main()
