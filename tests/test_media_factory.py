"""The generated test media are what the other tests assume they are."""

from __future__ import annotations

import av
import numpy as np

import media_factory as mf
from yt8m.media.probe import probe


def test_frame_index_survives_encoding(media) -> None:
    with av.open(str(media["h264_aac"])) as c:
        indices = [mf.read_frame_index(f.to_ndarray(format="rgb24")) for f in c.decode(video=0)]
    assert indices == list(range(90))


def test_probe_reports_each_file(media) -> None:
    info = probe(media["h264_aac"])
    assert [(s.kind, s.codec) for s in info.streams] == [("video", "h264"), ("audio", "aac")]
    assert info.audio_streams[0].sample_rate == 44100 and info.audio_streams[0].channels == 2
    assert abs(info.duration_s - 3.0) < 0.1
    assert [s.kind for s in probe(media["no_audio"]).streams] == ["video"]
    assert [s.kind for s in probe(media["audio_only"]).streams] == ["audio"]
    assert [s.codec for s in probe(media["vp9_opus"]).streams] == ["vp9", "opus"]
    odd = probe(media["odd_size"]).video_streams[0]
    assert (odd.width, odd.height) == (161, 97)
    assert abs(probe(media["half_second"]).duration_s - 0.5) < 0.1


def test_vfr_and_rotation(media) -> None:
    with av.open(str(media["vfr"])) as c:
        times = [round(float(f.time), 3) for f in c.decode(video=0)]
    assert times == [0.0, 0.1, 0.15, 0.6, 1.3, 1.31, 2.5]
    with av.open(str(media["rotated"])) as c:
        frame = next(c.decode(video=0))
        assert frame.rotation in (90, -90)


def test_broken_inputs_are_broken(media) -> None:
    assert media["empty"].stat().st_size == 0
    assert media["truncated"].stat().st_size < media["h264_aac"].stat().st_size
    assert not np.all(np.frombuffer(media["random"].read_bytes(), np.uint8) == 0)
