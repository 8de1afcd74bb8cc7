"""yt8m on a CUDA GPU: agreement with the CPU, the reduced precisions, and speed.

Needs a CUDA device. Every figure is measured in this one run on one machine:

1. the decoding ceilings: the decoding stage alone (1 Hz frames, RGB, the legacy resize)
   in software, with NVDEC (``--decode cuda``), and both side by side, in video-s/s;
2. the model ceilings: Inception frames/s at batch 64 (one frame is one video-second) and
   VGGish examples/s at batch 128, per precision, as ratios to this machine's CPU; and
   bfloat16 and float16 with and without the float32 stem, against float32;
3. fidelity: ``Extractor`` on CUDA (software and NVDEC decoding) against the same
   extraction on the CPU (float32), and CUDA float16 against CUDA float32: max relative
   error of the PCA features (max |a - b| / max |b|) and the share of quantized bytes
   that are unchanged, or off by one;
4. end-to-end extraction (decode, models, PCA) for 1 and N videos: video-s/s, as a ratio
   to the CPU and as a share of min(decoding ceiling, model ceiling);
5. ``yt8m extract --device cuda`` through the CLI: exit status and a readable output;
6. the native classifier families (the starter code's default sizes, random weights) on
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
    """Random weights of the real architectures, calibrated on the video's frames, under ``home``."""
    os.environ["YT8M_HOME"] = str(home)
    from calibrated_weights import write_calibrated_weights

    from yt8m.media.video import sample_frames_1hz
    from yt8m.weights import store

    if all(store.model_path(m).exists() for m in ("inception", "inception-pca", "vggish", "vggish-pca")):
        return
    write_calibrated_weights([f.rgb for f in sample_frames_1hz(video, 0, 8_000_000)])


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
    parser.add_argument("--sections", default="decode,models,extract,cli,classifiers",
                        help="comma-separated: which of decode (1), models (2), extract (3, 4), cli (5), "
                             "classifiers (6) to run")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        sys.exit("gpu_check: PyTorch sees no CUDA device here")
    args.work.mkdir(parents=True, exist_ok=True)
    video = _common.make_test_video(args.work / f"720p30_{args.seconds:g}s.mp4", duration_s=args.seconds,
                                    width=1280, height=720)
    _write_weights(args.work / "weights_home", video)

    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} CPU threads, {os.cpu_count()} cores; "
          f"video: {args.seconds:g} s 720p30 H.264 + stereo AAC")
    sections = set(args.sections.split(","))
    ceilings: dict[str, float] = {}
    if "decode" in sections:
        ceilings.update(_decoding(video, seconds=args.seconds, videos=args.videos))
    if "models" in sections:
        ceilings.update(_models(video))
    if "extract" in sections:
        _extraction(video, seconds=args.seconds, videos=args.videos, ceilings=ceilings)
    if "cli" in sections:
        _cli(video, args.work)
    if "classifiers" in sections:
        _classifiers()


def _decode_rate(videos: list[tuple[Path, str]], seconds: float) -> float:
    """Video-s/s of the decoding stage alone (1 Hz frames, RGB, the legacy resize), one
    thread per video, ``hwaccel`` ``"cuda"`` (NVDEC) or ``"none"`` each, as the extractor's
    decoding threads do it."""
    from concurrent.futures import ThreadPoolExecutor

    from yt8m.features.inception import preprocess
    from yt8m.media.video import sample_frames_1hz

    def decode(item: tuple[Path, str]) -> int:
        path, hwaccel = item
        n = 0
        for frame in sample_frames_1hz(path, 0, None, hwaccel=hwaccel):
            preprocess([frame.rgb])
            n += 1
        return n

    decode(videos[0])  # warm-up
    t = time.perf_counter()
    with ThreadPoolExecutor(len(videos)) as pool:
        list(pool.map(decode, videos))
    return len(videos) * seconds / (time.perf_counter() - t)


def _decoding(video: Path, *, seconds: float, videos: int) -> dict[str, float]:
    """1: the decoding ceilings: software, NVDEC, and both side by side (video-s/s)."""
    torch.set_num_threads(1)  # the resize in each thread, as in the extractor
    out = {"software": _decode_rate([(video, "none")] * videos, seconds)}
    print("decoding alone (1 Hz frames + legacy resize, one thread per video):")
    print(f"  software, {videos} videos:       {out['software']:7.1f} video-s/s")
    try:
        out["nvdec"] = _decode_rate([(video, "cuda")] * videos, seconds)
        half = max(1, videos // 2)
        out["both"] = _decode_rate([(video, "cuda")] * half + [(video, "none")] * videos, seconds)
        print(f"  NVDEC, {videos} videos:          {out['nvdec']:7.1f} video-s/s = "
              f"{out['nvdec'] / out['software']:.2f}x software")
        print(f"  {half} NVDEC + {videos} software:    {out['both']:7.1f} video-s/s = "
              f"{out['both'] / out['software']:.2f}x software")
    except Exception as exc:  # noqa: BLE001 - report and go on: the other figures still count
        print(f"  NVDEC: not available ({type(exc).__name__}: {exc})")
    torch.set_num_threads(os.cpu_count() or 1)
    out["decode"] = max(out.values())
    return out


def _extraction(video: Path, *, seconds: float, videos: int, ceilings: dict[str, float]) -> None:
    """3 and 4: whole extractions: fidelity against the CPU and float32, and video-s/s."""
    from yt8m.extraction import ExtractOptions, Extractor, Job
    from yt8m.features.sequence import FeatureSequence

    runs: dict[str, tuple[FeatureSequence, float, float]] = {}
    jobs = [Job(video, key=i) for i in range(videos)]
    for name, device, precision, decode in (("cpu", "cpu", "float32", "cpu"),
                                            ("cuda", "cuda", "float32", "cpu"),
                                            ("cuda nvdec", "cuda", "float32", "cuda"),
                                            ("cuda float16", "cuda", "float16", "cpu"),
                                            ("cuda f16 nvdec", "cuda", "float16", "cuda")):
        options = ExtractOptions(device=device, precision=precision, decode=decode, workers=videos,
                                 batch_size=16 if device == "cpu" else 64)
        try:
            extractor = Extractor(options, fetch=False)
            extractor.extract(video)  # warm-up: kernels, allocator, the batch shapes a video makes
        except Exception as exc:  # noqa: BLE001 - report and go on
            print(f"  {name}: failed ({type(exc).__name__}: {exc})")
            continue
        t = time.perf_counter()
        one = extractor.extract(video)
        one_s = time.perf_counter() - t
        t = time.perf_counter()
        results = list(extractor.run(jobs, workers=videos))
        assert all(r.error is None for r in results), [r.error for r in results if r.error]
        runs[name] = (one, one_s, time.perf_counter() - t)
        if one.notes:
            print(f"  {name}: notes {one.notes}")
        del extractor
    cpu = runs["cpu"][0]
    print("fidelity (PCA features; the bar: float32 within 1e-5 relative of the CPU, reduced precision "
          ">= 99.9% of quantized bytes unchanged or off by one):")
    for name, (feats, _, _) in runs.items():
        if name == "cpu":
            continue
        ref = cpu if "float16" not in name and "f16" not in name else runs["cuda"][0]
        against = "CPU float32" if ref is cpu else "CUDA float32"
        assert ref.audio is not None and feats.audio is not None
        assert feats.rgb.shape == ref.rgb.shape and feats.audio.shape == ref.audio.shape
        print(f"  {name:14s} vs {against}: rgb {_compare(feats.rgb, ref.rgb)}")
        print(f"  {'':14s}    {'':{len(against)}s}  audio {_compare(feats.audio, ref.audio)}")
    print("end-to-end extraction (decode + models + PCA), video-s/s:")
    for name, (_, one_s, many_s) in runs.items():
        model = ceilings.get("model float16" if "16" in name else "model float32", float("inf"))
        limit = min(ceilings.get("decode", float("inf")), model) if name != "cpu" else float("inf")
        share = f" = {videos * seconds / many_s / limit:.0%} of min(decode, model) ceiling" \
            if limit < float("inf") else ""
        print(f"  {name:14s} one video: {seconds / one_s:6.1f} = {runs['cpu'][1] / one_s:4.2f}x the CPU; "
              f"{videos} videos: {videos * seconds / many_s:6.1f} = {runs['cpu'][2] / many_s:4.2f}x the CPU"
              f"{share}")


def _models(video: Path) -> dict[str, float]:
    """2: the models alone, inputs already on the device (one frame = one video-second)."""
    import copy as _copy

    from calibrated_weights import calibrated_inception

    from yt8m.features.inception import inception_v3
    from yt8m.features.vggish import vggish

    print("models alone (Inception batch 64, VGGish batch 128; ratios to the CPU's float32):")
    frames = torch.randn(64, 3, 299, 299)
    examples = torch.randn(128, 96, 64)
    out: dict[str, float] = {}
    with torch.inference_mode():
        base: dict[str, float] = {}
        for device, dtype in (("cpu", torch.float32), ("cuda", torch.float32), ("cuda", torch.float16),
                              ("cuda", torch.bfloat16)):
            inc = inception_v3(device=device, fetch=False).set_precision(dtype)
            vgg = vggish(device=device, fetch=False).to(dtype)
            x = frames.to(device).contiguous(memory_format=torch.channels_last)
            e = examples.to(device, dtype)
            repeat = 5 if device == "cuda" else 1
            fps = _throughput(lambda m=inc, t=x: m(t), len(x), repeat=repeat)
            eps = _throughput(lambda m=vgg, t=e: m(t), len(e), repeat=repeat)
            key = f"{device} {str(dtype).removeprefix('torch.')}"
            base.setdefault("inc", fps)
            base.setdefault("vgg", eps)
            if device == "cuda":
                out[f"model {str(dtype).removeprefix('torch.')}"] = fps
            print(f"  {key:14s} Inception (stem float32): {fps:8.1f} frames/s ({fps / base['inc']:6.1f}x); "
                  f"VGGish: {eps:8.1f} examples/s ({eps / base['vgg']:6.1f}x)")
        # bfloat16 is refused for extraction; this shows whether that still holds on this device.
        from yt8m.features.inception import preprocess
        from yt8m.features.pca import load_pca
        from yt8m.media.video import sample_frames_1hz

        pca = load_pca("inception-pca", fetch=False)
        rgb = [f.rgb for f in sample_frames_1hz(video, 0, 16_000_000)]
        model = calibrated_inception(rgb).fold_batchnorm().to("cuda")
        x = preprocess(rgb, device="cuda")
        ref = pca(model(x).cpu().numpy())
        for dtype in (torch.bfloat16, torch.float16):
            split = pca(_copy.deepcopy(model).set_precision(dtype)(x).cpu().numpy())
            whole = pca(_copy.deepcopy(model).to(dtype)(x.to(dtype)).float().cpu().numpy())
            name = str(dtype).removeprefix("torch.")
            print(f"  Inception + PCA in {name} after a float32 stem, against float32 here: "
                  f"{_compare(split, ref)}")
            print(f"  Inception + PCA all in {name}, against float32 here: {_compare(whole, ref)}")
    return out


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
