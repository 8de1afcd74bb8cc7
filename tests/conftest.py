"""Shared fixtures: generated test media (made once per session) and CLI runners."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import media_factory as mf  # noqa: E402


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every kind of test video the issues ask for, plus broken inputs."""
    d = tmp_path_factory.mktemp("media")
    out = {
        "h264_aac": mf.make_video(d / "h264_aac.mp4", duration_s=3.0),
        "no_audio": mf.make_video(d / "no_audio.mp4", duration_s=2.0, audio=None),
        "audio_only": mf.make_audio_only(d / "audio_only.m4a", duration_s=2.0),
        "vp9_opus": mf.make_video(d / "vp9_opus.webm", duration_s=2.0, codec="libvpx-vp9",
                                  audio=mf.AudioSpec(codec="libopus", sample_rate=48000)),
        "vfr": mf.make_video(d / "vfr.mp4", audio=None, duration_s=3.0,
                             frame_times_s=[0.0, 0.1, 0.15, 0.6, 1.3, 1.31, 2.5]),
        "rotated": mf.set_mp4_rotation(mf.make_video(d / "rotated.mp4", duration_s=1.0, audio=None), 90),
        "odd_size": mf.make_video(d / "odd_size.mp4", duration_s=1.0, width=161, height=97,
                                  pix_fmt="yuv444p", audio=None),
        "half_second": mf.make_video(d / "half_second.mp4", duration_s=0.5),
    }
    out.update(mf.make_broken_inputs(d / "broken", out["h264_aac"]))
    return out


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


@pytest.fixture
def run_cli():
    """Run ``python -m yt8m ARGS`` in a subprocess, as a user would."""

    def run(*args: str | os.PathLike[str], cwd: Path | None = None) -> CliResult:
        proc = subprocess.run([sys.executable, "-m", "yt8m", *map(str, args)], capture_output=True,
                              text=True, cwd=cwd, timeout=600)
        return CliResult(proc.returncode, proc.stdout, proc.stderr)

    return run
