"""Reduced precision that keeps the 8-bit features, bfloat16's refusal, and ``--decode``.

The bar (docs/visual.md, 'Reduced precision'): >= 99.9% of quantized bytes unchanged or
off by one against float32. The oracle is the float32 network on the same weights;
the weights are random with batch norm calibrated on real frames, so that activations
have a trained network's scales (tests/calibrated_weights.py).
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

import media_factory as mf
from calibrated_weights import calibrated_inception, random_pca
from yt8m.errors import InputError
from yt8m.extraction import ExtractOptions
from yt8m.features.pca import PCA
from yt8m.formats.quantize import quantize
from yt8m.media.video import sample_frames_1hz

BAR = 0.999


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory):
    video = mf.make_video(tmp_path_factory.mktemp("precision") / "v.mp4", duration_s=6.0, width=320,
                          height=180, audio=None)
    frames = [f.rgb for f in sample_frames_1hz(video, 0, None)]
    model = calibrated_inception(frames).fold_batchnorm()
    pca = random_pca(2048, 1024)
    return model, frames, PCA(pca["mean"], pca["projection"])


def _within_one(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(np.abs(quantize(a).astype(int) - quantize(b).astype(int)) <= 1))


def test_float16_with_a_float32_stem_keeps_the_bytes_where_the_whole_network_in_float16_does_not(
        calibrated) -> None:
    from yt8m.features.inception import preprocess

    model, frames, pca = calibrated
    x = preprocess(frames)
    with torch.inference_mode():
        reference = pca(model(x).numpy())
        mixed = copy.deepcopy(model).set_precision(torch.float16)
        out = mixed(x)
        assert out.dtype == torch.float32 and mixed.conv.weight.dtype == torch.float32
        assert mixed.mixed_10.conv.weight.dtype == torch.float16
        ours = pca(out.numpy())
        whole = pca(copy.deepcopy(model).to(torch.float16)(x.half()).float().numpy())
    assert _within_one(ours, reference) >= BAR
    # The same check fails for the whole network in float16: the test tells the two apart.
    assert _within_one(whole, reference) < BAR


def test_bfloat16_is_refused_for_extraction_with_the_reason(run_cli, media) -> None:
    with pytest.raises(InputError, match="bfloat16 is not offered for extraction"):
        ExtractOptions(precision="bfloat16")
    result = run_cli("extract", media["h264_aac"], "--precision", "bfloat16", "-o", "/nonexistent/x.pb")
    assert result.exit_code == 2
    assert "bfloat16 is not offered for extraction" in result.stderr and "float16" in result.stderr
    assert "Traceback" not in result.stderr


def test_decode_is_a_speed_setting_not_a_feature_setting() -> None:
    assert ExtractOptions(decode="cuda").feature_settings() == ExtractOptions(decode="cpu").feature_settings()
    with pytest.raises(InputError, match="Invalid decode"):
        ExtractOptions(decode="nvdec")  # type: ignore[arg-type]


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present")
def test_decode_cuda_without_a_gpu_is_one_line_and_exit_2(run_cli, media, with_weights, tmp_path) -> None:
    result = run_cli("extract", media["h264_aac"], "--decode", "cuda", "-o", tmp_path / "f.pb")
    assert result.exit_code == 2
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "--decode cuda" in result.stderr and "no CUDA device" in result.stderr
    assert not (tmp_path / "f.pb").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="NVDEC may work here")
def test_a_video_nvdec_cannot_decode_falls_back_to_software_with_a_note(extractor, media) -> None:
    """Here no GPU can be opened, so NVDEC fails for every video: each falls back, same features."""
    from yt8m.extraction import Job

    software = extractor.extract(media["h264_aac"])
    try:
        extractor.hardware_decode = True
        (result,) = list(extractor.run([Job(media["h264_aac"])], workers=1))
    finally:
        extractor.hardware_decode = False
    assert result.error is None, result.error
    features = result.features
    assert features is not None
    np.testing.assert_array_equal(features.rgb, software.rgb)
    assert [n for n in features.notes if n.startswith("decoded in software: ")], features.notes
