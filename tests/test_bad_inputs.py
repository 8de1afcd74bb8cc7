"""Bad inputs and unusable outputs: one line naming the path and the problem, never a
traceback, never a wrong result with exit 0. Each case was first reproduced on the code
before the fix (a traceback, or a result that should not have been given)."""

from __future__ import annotations

import json
import os
import shutil
import sys
import zipfile
from pathlib import Path

import media_factory as mf
import numpy as np
import pytest

from yt8m.cli import main
from yt8m.errors import InputError
from yt8m.extraction.inputs import read_manifest
from yt8m.features.sequence import FeatureSequence
from yt8m.formats.tfrecord import write_records
from yt8m.formats.yt8m_records import make_frame_record
from yt8m.inference.classifiers import build_model, save_native
from yt8m.inference.video_predictions import features_from_sequence

C = 6


@pytest.fixture
def model(tmp_path):
    return save_native(build_model("logistic", num_classes=C, seed=1), tmp_path / "logistic")


def _run(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def _one_error_line(err: str, *needles: str) -> None:
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("yt8m: error: "), err
    for needle in needles:
        assert needle in lines[0], err


def _npz(path, rgb: np.ndarray, *, metadata: object = None) -> None:
    seconds = rgb.shape[0]
    meta = {"notes": [], "has_audio": False} if metadata is None else metadata
    np.savez(path, rgb=rgb, audio=np.zeros((0, 128), np.float32),
             rgb_timestamps_us=np.arange(seconds) * 1_000_000,
             audio_timestamps_us=np.zeros(0, np.int64), metadata=np.array(json.dumps(meta)))


# --- .npz features ---------------------------------------------------------------------------

def test_truncated_non_zip_and_odd_metadata_npz_are_one_line(capsys, tmp_path, model) -> None:
    good = tmp_path / "good.npz"
    _npz(good, np.zeros((3, 1024), np.float32))
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[:200])
    not_zip = tmp_path / "not_zip.npz"
    not_zip.write_text("hello")
    listed = tmp_path / "listed.npz"
    _npz(listed, np.zeros((3, 1024), np.float32), metadata=[1, 2])
    for path in (truncated, not_zip, listed):
        with pytest.raises(InputError, match="not a yt8m features .npz"):
            FeatureSequence.read(path)
        code, _, err = _run(capsys, "predict", path, "--model", model)
        assert code == 2
        _one_error_line(err, str(path))
    assert zipfile.is_zipfile(good)


def test_features_with_nan_or_infinity_are_refused(capsys, tmp_path, model) -> None:
    rgb = np.zeros((4, 1024), np.float32)
    rgb[2, 5] = np.nan
    rgb[3, 7] = np.inf
    path = tmp_path / "nan.npz"
    _npz(path, rgb)
    with pytest.raises(InputError, match="2 NaN or infinite values .* the first at row 2"):
        features_from_sequence(FeatureSequence.read(path), source=str(path))
    code, out, err = _run(capsys, "predict", path, "--model", model)
    assert code == 2 and out == ""  # before: exit 0 and a bare NaN in the JSON
    _one_error_line(err, str(path), "NaN")


# --- options and labels ----------------------------------------------------------------------

def test_an_unknown_device_is_one_line(capsys, tmp_path, model, media) -> None:
    shard = tmp_path / "s.tfrecord"
    write_records(shard, [make_frame_record("a", [1], np.zeros((2, 1024), np.uint8),
                                            np.zeros((2, 128), np.uint8)).SerializeToString()])
    for args in (("extract", media["h264_aac"], "-o", tmp_path / "f.pb"), ("eval", shard, "--model", model),
                 ("predict-dataset", shard, "--model", model)):
        code, _, err = _run(capsys, *args, "--device", "bogus")
        assert code == 2, args
        _one_error_line(err, "Invalid device ('bogus')")


def test_eval_on_shards_without_labels_says_so(capsys, tmp_path, model) -> None:
    shard = tmp_path / "test0000.tfrecord"
    write_records(shard, [make_frame_record(f"v{i}", [], np.full((3, 1024), i, np.uint8),
                                            np.zeros((3, 128), np.uint8)).SerializeToString()
                          for i in range(3)])
    code, out, err = _run(capsys, "eval", shard, "--model", model)
    assert code == 2 and out == ""
    _one_error_line(err, "hold no labels")


def test_negative_labels_in_a_manifest_are_refused(tmp_path) -> None:
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,labels\na.mp4,3;-1\n")
    with pytest.raises(InputError, match=r"m.csv:2: labels are class indices >= 0"):
        read_manifest(manifest)


def test_predict_dataset_says_what_it_wrote_without_windows(capsys, tmp_path, model) -> None:
    shard = tmp_path / "s.tfrecord"
    write_records(shard, [make_frame_record("a", [1], np.zeros((6, 1024), np.uint8),
                                            np.zeros((6, 128), np.uint8)).SerializeToString()])
    submission = tmp_path / "sub.csv"
    code, _, err = _run(capsys, "predict-dataset", shard, "--model", model, "--submission", submission)
    assert code == 0 and submission.is_file()
    assert "1 record, scored (no windows asked for)" in err and str(submission) in err
    assert "0 windows" not in err


# --- extraction outputs ------------------------------------------------------------------------

def test_output_problems_are_said_before_any_weights_load(capsys, tmp_path, media) -> None:
    # The weights cache is empty: each problem must be said first, as one line with exit 2.
    folder_named_pb = tmp_path / "out.pb"
    folder_named_pb.mkdir()
    code, _, err = _run(capsys, "extract", media["h264_aac"], "-o", folder_named_pb)
    assert code == 2
    _one_error_line(err, str(folder_named_pb), "is a directory")

    a_file = tmp_path / "file"
    a_file.write_text("x")
    code, _, err = _run(capsys, "extract", media["h264_aac"], media["vp9_opus"], "-o", a_file / "shards")
    assert code == 2
    _one_error_line(err, "cannot write outputs here")

    code, _, err = _run(capsys, "extract", media["h264_aac"], media["vp9_opus"], "-o", "/sys/yt8m-test-out")
    assert code == 2  # /sys refuses new folders even to root: a read-only place
    _one_error_line(err, "/sys/yt8m-test-out", "cannot write outputs here")

    for prefix in ("../escape", "a/b", ".hidden"):
        code, _, err = _run(capsys, "extract", media["h264_aac"], media["vp9_opus"], "-o", tmp_path / "s",
                            "--shard-prefix", prefix)
        assert code == 2
        _one_error_line(err, "Invalid --shard-prefix")
    assert not list(tmp_path.rglob("*.tfrecord")) and not (tmp_path / "escape").exists()


def test_a_yt8m_home_that_is_not_a_folder_is_one_line(run_cli, tmp_path, media, monkeypatch) -> None:
    home = tmp_path / "home_file"
    home.write_text("not a folder")
    monkeypatch.setenv("YT8M_HOME", str(home))
    result = run_cli("extract", media["h264_aac"], "-o", tmp_path / "f.pb")
    assert result.exit_code == 2, result.stderr
    _one_error_line(result.stderr, str(home))


def _as_unprivileged(command: list[str]) -> list[str]:
    """``command`` as the unprivileged user when this runs as root (root reads any folder)."""
    if os.geteuid() != 0:
        return command
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: an unreadable folder cannot be made")
    return ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *command]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_a_video_or_output_in_an_unreadable_folder_is_one_line(media) -> None:
    import subprocess
    import tempfile

    # A folder of its own under the system's temporary folder, so that the unprivileged user
    # reaches it (pytest's tmp_path is private to root); the package itself must be readable.
    base = Path(tempfile.mkdtemp(prefix="yt8m-perm-"))
    try:
        base.chmod(0o777)
        locked = base / "locked"
        locked.mkdir()
        shutil.copy(media["h264_aac"], locked / "v.mp4")
        shutil.copy(media["h264_aac"], base / "ok.mp4")
        (base / "home").mkdir(mode=0o777)
        locked.chmod(0)
        env = dict(os.environ, YT8M_HOME=str(base / "home"), HOME=str(base))
        probe = subprocess.run(_as_unprivileged([sys.executable, "-c", "import yt8m.cli"]), env=env,
                               capture_output=True, text=True)
        if probe.returncode != 0:
            pytest.skip(f"the unprivileged user cannot import yt8m here: {probe.stderr.strip()[-200:]}")
        for args, needle in (((locked / "v.mp4", "-o", base / "f.pb"), "v.mp4"),
                             ((base / "ok.mp4", "-o", locked / "f.pb"), str(locked))):
            command = [sys.executable, "-m", "yt8m", "extract", *map(str, args)]
            proc = subprocess.run(_as_unprivileged(command), env=env, capture_output=True, text=True,
                                  timeout=300)
            assert proc.returncode == 2, proc.stderr
            _one_error_line(proc.stderr, needle)
    finally:
        (base / "locked").chmod(0o755)
        shutil.rmtree(base)


def test_a_video_given_twice_is_extracted_once_and_reported(run_cli, with_weights, media, tmp_path) -> None:
    out = tmp_path / "out"
    result = run_cli("extract", media["h264_aac"], media["h264_aac"], media["vp9_opus"], "-o", out)
    assert result.exit_code == 0, result.stderr
    assert "given more than once" in result.stderr and "2 extracted" in result.stderr
    from yt8m.extraction.batch import iter_shard_records

    assert len(list(iter_shard_records(out))) == 2


def test_a_video_listed_twice_with_other_labels_is_refused(tmp_path, media) -> None:
    manifest = tmp_path / "m.csv"
    manifest.write_text(f"path,labels\n{media['h264_aac']},1\n{media['vp9_opus']},2\n{media['h264_aac']},3\n")
    from yt8m.extraction.inputs import assign_ids

    with pytest.raises(InputError, match=r"listed twice with other labels \(1 and 3\)"):
        assign_ids(read_manifest(manifest), "stem")  # before: two records with one id, no word


def test_convert_refuses_features_with_nan_or_infinity(capsys, tmp_path) -> None:
    good, bad = tmp_path / "good.npz", tmp_path / "bad.npz"
    _npz(good, np.ones((3, 1024), np.float32))
    rgb = np.ones((3, 1024), np.float32)
    rgb[1, 0] = np.inf
    _npz(bad, rgb)
    shard = tmp_path / "s.tfrecord"
    code, _, err = _run(capsys, "convert", good, bad, "-o", shard)
    assert code == 1 and "bad.npz: the rgb features hold 1 NaN or infinite values" in err
    from yt8m.formats.tfrecord import read_records

    assert len(list(read_records(shard))) == 1  # before: exit 0, inf quantized to 255 in the shard
    with pytest.raises(InputError, match="NaN or infinite"):
        FeatureSequence.read(bad).to_frame_record("x")


def test_an_output_file_that_is_a_directory_is_refused_before_the_work(capsys, tmp_path, model) -> None:
    features = tmp_path / "f.npz"
    _npz(features, np.ones((3, 1024), np.float32))
    folder = tmp_path / "folder"
    folder.mkdir()
    for args in (("convert", features, "-o", folder), ("predict", features, "--model", model, "-o", folder),
                 ("predict-dataset", features, "--model", model, "--submission", folder)):
        code, _, err = _run(capsys, *args)
        assert code == 2 and "Traceback" not in err and "is a directory" in err, (args, err)
        assert list(folder.iterdir()) == [] and not list(tmp_path.glob(".*.part")), args


def test_a_shard_prefix_cannot_leave_the_output_with_either_engine(capsys, tmp_path, media) -> None:
    for engine in ("local", "ray"):
        code, _, err = _run(capsys, "extract", media["h264_aac"], media["vp9_opus"], "-o", tmp_path / "out",
                            "--shard-prefix", "../escaped", "--engine", engine)
        assert code == 2, engine  # before, with ray: shards written beside -o
        _one_error_line(err, "Invalid --shard-prefix")
    assert not list(tmp_path.rglob("escaped*"))


def test_a_cut_short_faststart_mp4_fails_saying_where_it_stopped(run_cli, with_weights, tmp_path) -> None:
    import av

    whole = mf.make_video(tmp_path / "whole.mp4", duration_s=6.0, fps=10, width=64, height=48)
    fast = tmp_path / "fast.mp4"
    with av.open(str(whole)) as src, av.open(str(fast), "w", options={"movflags": "faststart"}) as dst:
        streams = {s.index: dst.add_stream_from_template(s) for s in src.streams}
        for packet in src.demux():
            if packet.dts is not None:
                packet.stream = streams[packet.stream.index]
                dst.mux(packet)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(fast.read_bytes()[: fast.stat().st_size // 2])  # the index, then half the media data
    result = run_cli("extract", cut, "-o", tmp_path / "cut.pb")
    assert result.exit_code == 1 and not (tmp_path / "cut.pb").exists()
    assert "cut short or damaged" in result.stderr and "of the 6 s it declares" in result.stderr


def test_predict_checks_the_model_before_extracting(capsys, tmp_path, media) -> None:
    # No weights in the cache: extracting first would end in the weights message (exit 3).
    not_a_model = tmp_path / "notes.txt"
    not_a_model.write_text("hello")
    for model in (tmp_path / "missing", not_a_model):
        code, _, err = _run(capsys, "predict", media["h264_aac"], "--model", model)
        assert code == 2
        _one_error_line(err, str(model))


def test_every_extracting_command_takes_the_same_extraction_options(capsys) -> None:
    from yt8m.extraction.options import OPTION_NAMES

    for command in ("extract", "predict", "serve"):
        assert main([command, "--help"]) == 0
        out, _ = capsys.readouterr()
        for name in OPTION_NAMES:
            assert "--" + name.replace("_", "-") in out, (command, name)
