"""Reruns at their edges, each reproduced first on the code before its fix: features that
cannot be written, a run whose every input fails, shards of other prefixes, damaged or
moved bookkeeping, and inputs that become unreadable. With the stub extractor of
test_rerun_property.py (features from the file's bytes), so each takes well under a second.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import numpy as np
import pytest
from test_rerun_property import _run, _shards, _Stub

import yt8m.extraction.identity as identity
from yt8m.errors import InputError
from yt8m.extraction.batch import MANIFEST_FILE, SWAP_FILE, run_batch
from yt8m.extraction.inputs import PARTS_DIR, assign_ids, collect_inputs
from yt8m.extraction.scheduler import Result
from yt8m.formats.tfrecord import read_records
from yt8m.formats.yt8m_records import parse_record

AUDIO = {"audio": True}


def _folder(tmp_path: Path, names: tuple[str, ...], name: str = "videos") -> Path:
    folder = tmp_path / name
    folder.mkdir()
    for video in names:
        (folder / f"{video}.mp4").write_bytes(b"good " + video.encode() * 40)
    return folder


def _batch(stub: _Stub, *folders: Path, **kwargs):
    return run_batch(stub, assign_ids(collect_inputs(list(folders)), "stem"), progress=False, **kwargs)


def _ids(out: Path, pattern: str = "*.tfrecord") -> list[str]:
    return [parse_record(r).video_id for p in sorted(out.glob(pattern)) for r in read_records(p)]


class _NanStub(_Stub):
    """The stub, but a file starting with ``nan`` gives features holding a NaN."""

    def run(self, jobs, **kwargs):
        for result in super().run(jobs, **kwargs):
            if result.features is not None and Path(result.job.path).read_bytes().startswith(b"nan"):
                result.features.rgb[0, 3] = np.nan
                result = Result(result.job, features=result.features)
            yield result


def test_features_with_nan_fail_that_video_only(tmp_path) -> None:
    videos, out = _folder(tmp_path, ("a", "c")), tmp_path / "out"
    (videos / "b.mp4").write_bytes(b"nan and more")
    report = _run(_NanStub(AUDIO, random.Random(0)), videos, out, 2, False)
    # before: the InputError left run_batch, the other videos stopped, and every rerun did the same
    assert [p.name for p, _ in report.failed] == ["b.mp4"] and "NaN" in report.failed[0][1]
    assert sorted(p.name for p in report.done) == ["a.mp4", "c.mp4"] and _ids(out) == ["a", "c"]
    again = _run(_NanStub(AUDIO, random.Random(0)), videos, out, 2, False)
    assert again.done == [] and [p.name for p, _ in again.failed_earlier] == ["b.mp4"]
    npz = _batch(_NanStub(AUDIO, random.Random(0)), videos, fmt="npz", out=tmp_path / "npz")
    assert [p.name for p, _ in npz.failed] == ["b.mp4"] and not (tmp_path / "npz" / "b.npz").exists()


def test_a_kept_set_keeps_its_manifest_lines(tmp_path) -> None:
    videos, out = _folder(tmp_path, ("a", "b")), tmp_path / "out"
    _run(_Stub(AUDIO, random.Random(0)), videos, out, 2, False)
    shards = _shards(out)
    moved = tmp_path / "away"
    videos.rename(moved)
    broken = tmp_path / "videos"
    broken.mkdir()
    for name in ("x", "y"):
        (broken / f"{name}.mp4").write_bytes(b"corrupt")
    report = _run(_Stub(AUDIO, random.Random(0)), broken, out, 2, False)
    assert [p.name for p in report.kept] == ["features-00000-of-00001.tfrecord"] and _shards(out) == shards
    shutil.rmtree(broken)
    moved.rename(videos)  # the first videos again, unchanged: their shard is theirs
    stub = _Stub(AUDIO, random.Random(0))
    assert len(_run(stub, videos, out, 2, False).reused) == 2 and stub.attempted == []  # before: redone
    renamed = _batch(_Stub(AUDIO, random.Random(0)), videos, fmt="yt8m", out=out, shard_size=2,
                     shard_prefix="train")
    assert renamed.done == [] and _ids(out) == ["a", "b"]  # before: 4 records, a and b twice
    assert [p.name for p in out.glob("*.tfrecord")] == ["train-00000-of-00001.tfrecord"]


def test_shards_of_another_prefix_with_other_videos_stay(tmp_path) -> None:
    train, validate = _folder(tmp_path, ("a", "b"), "train"), _folder(tmp_path, ("c", "d"), "validate")
    out = tmp_path / "out"

    def run(folder: Path, prefix: str, *more: Path):
        return _batch(_Stub(AUDIO, random.Random(0)), folder, *more, fmt="yt8m", out=out, shard_size=2,
                      shard_prefix=prefix)

    run(train, "train")
    second = run(validate, "validate")  # another split beside the first, as the dataset's own folders
    assert second.removed == [] and second.warnings == []
    assert _ids(out, "train-*") == ["a", "b"] and _ids(out, "validate-*") == ["c", "d"]
    (validate / "d.mp4").unlink()
    third = run(train, "all", validate)  # a, b, c: all of train's videos, some of validate's
    removed = sorted(p.name for p in third.removed if p.suffix == ".tfrecord")
    assert removed == ["train-00000-of-00001.tfrecord"]
    assert _ids(out, "validate-*") == ["c", "d"] and _ids(out, "all-*") == ["a", "b", "c"]
    (warning,) = third.warnings
    assert "1 of these videos are also in the shards validate-*" in warning


def test_a_damaged_swap_journal_is_one_line_and_touches_nothing(tmp_path) -> None:
    videos, out = _folder(tmp_path, ("a", "b", "c")), tmp_path / "out"
    _run(_Stub(AUDIO, random.Random(0)), videos, out, 2, False)
    (out / PARTS_DIR).mkdir()
    outside = tmp_path / "precious-00000-of-00001.tfrecord"
    outside.write_bytes(b"keep me")
    for journal, why in (("{half", "Expecting property name"),
                         (json.dumps({"remove": ["../precious-00000-of-00001.tfrecord"], "drop": [],
                                      "install": []}), "not a swap"),
                         (json.dumps({"remove": 3}), "not a swap")):
        (out / PARTS_DIR / SWAP_FILE).write_text(journal)
        with pytest.raises(InputError, match=f"{SWAP_FILE}: the record of an earlier run's .*{why}.*"
                                             "delete that file, then rerun"):
            _run(_Stub(AUDIO, random.Random(0)), videos, out, 2, False)
        assert outside.read_bytes() == b"keep me" and len(_ids(out)) == 3
    (out / PARTS_DIR / SWAP_FILE).unlink()
    assert len(_run(_Stub(AUDIO, random.Random(0)), videos, out, 2, True).done) == 3


def test_manifests_without_sizes_and_folders_copied_without_times(tmp_path) -> None:
    videos, out = _folder(tmp_path, ("a", "b", "c")), tmp_path / "out"
    _run(_Stub(AUDIO, random.Random(0)), videos, out, 2, False)
    shards = _shards(out)
    # A manifest of the yt8m before output stamps: its shards are checked record by record.
    manifest = out / MANIFEST_FILE
    old = [{k: v for k, v in json.loads(line).items() if k not in ("size", "mtime_ns", "sha256")}
           for line in manifest.read_text().splitlines()]
    manifest.write_text("".join(json.dumps(e) + "\n" for e in old))
    stub = _Stub(AUDIO, random.Random(0))
    assert len(_run(stub, videos, out, 2, False).reused) == 3 and stub.attempted == []
    assert all("sha256" in json.loads(line) for line in manifest.read_text().splitlines())  # stamped now
    # The folder copied by a tool that keeps no modification times: the contents are hashed.
    copy = tmp_path / "copy"
    shutil.copytree(out, copy, copy_function=shutil.copyfile)
    stub = _Stub(AUDIO, random.Random(0))
    assert len(_run(stub, videos, copy, 2, False).reused) == 3 and stub.attempted == []
    assert _shards(copy) == shards
    # ... but a shard changed in place, same size, is redone.
    first = copy / "features-00000-of-00002.tfrecord"
    data = bytearray(first.read_bytes())
    data[-1] ^= 1
    first.write_bytes(bytes(data))
    stub = _Stub(AUDIO, random.Random(0))
    assert sorted(p.name for p in _run(stub, videos, copy, 2, False).done) == ["a.mp4", "b.mp4"]
    assert _shards(copy) == shards


def test_an_input_that_became_unreadable_is_not_taken_for_the_readable_one(tmp_path, monkeypatch) -> None:
    videos, out = _folder(tmp_path, ("a", "b")), tmp_path / "out"
    _run(_Stub(AUDIO, random.Random(0)), videos, out, 2, False)
    real_open = identity.os.open

    def refuse_a(path, flags, *args):
        if Path(path).name == "a.mp4":
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(identity.os, "open", refuse_a)
    # A cached head must not stand for a file that cannot be opened now (chmod changes no mtime):
    # its identity is another, so its work is not the readable file's.
    keys = {identity.file_identity(videos / "a.mp4", identity.IdentityCache(out / identity.IDENTITY_CACHE))
            .get("unreadable")}
    assert keys == {"Permission denied"}


def test_two_ids_on_one_output_file_are_refused(tmp_path) -> None:
    videos = _folder(tmp_path, ("a b", "a_b"))
    with pytest.raises(InputError, match=r"would both be written to .*a_b\.npz"):
        _batch(_Stub(AUDIO, random.Random(0)), videos, fmt="npz", out=tmp_path / "npz")


def test_another_prefix_with_the_same_videos_is_replaced_whatever_else_changed(tmp_path) -> None:
    videos, out = _folder(tmp_path, ("a", "b")), tmp_path / "out"
    (videos / "c.mp4").write_bytes(b"corrupt")
    _batch(_Stub(AUDIO, random.Random(0)), videos, fmt="yt8m", out=out, shard_size=2, shard_prefix="train")
    (videos / "c.mp4").unlink()  # the broken input removed, and other settings: new keys, the same ids
    report = _batch(_Stub({"audio": False}, random.Random(0)), videos, fmt="yt8m", out=out, shard_size=2)
    assert report.warnings == [] and _ids(out) == ["a", "b"]  # before: a and b twice, under both prefixes
    assert [p.name for p in out.glob("*.tfrecord")] == ["features-00000-of-00001.tfrecord"]


def test_a_staged_set_never_hides_the_line_of_the_shard_in_place(tmp_path, monkeypatch) -> None:
    import yt8m.extraction.batch as batch

    videos, out = _folder(tmp_path, ("a", "b")), tmp_path / "out"
    _run(_Stub(AUDIO, random.Random(0)), videos, out, 2, False)
    original = (videos / "b.mp4").read_bytes()
    (videos / "b.mp4").write_bytes(b"good, but another b")  # the new set has the old one's shard name

    def killed(*args):
        raise KeyboardInterrupt  # killed once the new set is staged, before its swap began

    with monkeypatch.context() as patch:
        patch.setattr(batch._ShardRun, "finish", killed)
        with pytest.raises(KeyboardInterrupt):
            _run(_Stub(AUDIO, random.Random(0)), videos, out, 2, False)
    assert [p.name for p in (out / PARTS_DIR / "staged").iterdir()] == ["features-00000-of-00001.tfrecord"]
    (videos / "b.mp4").write_bytes(original)  # back to the first b, under another prefix
    stub = _Stub(AUDIO, random.Random(0))
    renamed = _batch(stub, videos, fmt="yt8m", out=out, shard_size=2, shard_prefix="train")
    # before: the staged line had replaced the line of the shard in place, so that shard was no
    # longer known as these videos': a and b twice in the folder
    assert _ids(out) == ["a", "b"] and [p.name for p in stub.attempted] == ["b.mp4"]
    assert [p.name for p in out.glob("*.tfrecord")] == ["train-00000-of-00001.tfrecord"]
    assert renamed.warnings == [] and not (out / PARTS_DIR).exists()


def test_a_journal_whose_entries_are_not_shard_lines_is_refused(tmp_path) -> None:
    videos, out = _folder(tmp_path, ("a",)), tmp_path / "out"
    _run(_Stub(AUDIO, random.Random(0)), videos, out, 2, False)
    (out / PARTS_DIR).mkdir()
    line = {"output": "features-00000-of-00001.tfrecord", "members": 5}
    (out / PARTS_DIR / SWAP_FILE).write_text(json.dumps({"remove": [], "drop": [], "install": [line]}))
    with pytest.raises(InputError, match="not a swap"):  # before: accepted, then every run a TypeError
        _run(_Stub(AUDIO, random.Random(0)), videos, out, 2, False)


def test_one_video_runs_into_one_folder_run_side_by_side(tmp_path) -> None:
    from yt8m.extraction.output_lock import LOCK_FILE, output_lock

    videos = _folder(tmp_path, ("a", "b"))
    out = tmp_path / "features"
    out.mkdir()

    def one(name: str):
        (video,) = [v for v in assign_ids(collect_inputs([videos]), "stem") if v.video_id == name]
        return run_batch(_Stub(AUDIO, random.Random(0)), [video], fmt="npz", out=out / f"{name}.npz",
                         progress=False)

    with output_lock(out, file=out / "a.npz"):  # a run writing a.npz is under way
        assert len(one("b").done) == 1  # before: "another yt8m run is writing into this folder"
        with pytest.raises(InputError, match=r"a\.npz: another yt8m run is writing into .*a\.npz"):
            one("a")
    assert len(one("a").done) == 1
    assert sorted(p.name for p in out.iterdir()) == [MANIFEST_FILE, "a.npz", "b.npz"]  # no lock files left
    assert len(one("a").reused) == 1 and len(one("b").reused) == 1  # both lines kept: appended, not compacted
    assert not (out / LOCK_FILE).exists()
