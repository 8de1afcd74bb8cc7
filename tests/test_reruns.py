"""Reruns into an existing output never give wrong data.

Each numbered case of the rerun issue is reproduced here first as a user hits it, then a
property test drives random sequences of (add videos, remove videos, corrupt one, kill
the run at a random point, rerun with or without --overwrite) and checks after every
completed run that the shards hold exactly the current inputs' good videos once each,
byte for byte as a clean run writes them, and that failures.csv names exactly the
current broken inputs. The oracle for "a clean run" is each video's record made on its
own (Extractor.run then FeatureSequence.to_frame_record), framed as TFRecords in input
order and cut every shard_size videos.
"""

from __future__ import annotations

import csv
import os
import random
import shutil
from pathlib import Path

import media_factory as mf
import pytest

from yt8m.extraction import Job
from yt8m.extraction.batch import MANIFEST_FILE, run_batch
from yt8m.extraction.output_lock import LOCK_FILE, output_lock
from yt8m.extraction.inputs import PARTS_DIR, assign_ids, collect_inputs
from yt8m.formats.tfrecord import encode_record, read_records
from yt8m.formats.yt8m_records import parse_record

SHARD = 2
POOL = 6


class _Killed(Exception):
    """Stands for the run being killed: raised inside its loop after some videos."""


class _KillAfter:
    """An Extractor whose run stops (as if killed) after ``after`` results."""

    def __init__(self, extractor, after: int) -> None:
        self.extractor, self.after = extractor, after

    def feature_settings(self):
        return self.extractor.feature_settings()

    def run(self, jobs, **kwargs):
        for count, result in enumerate(self.extractor.run(jobs, **kwargs)):
            if count == self.after:
                raise _Killed
            yield result


@pytest.fixture(scope="module")
def pool(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("pool")
    return {f"p{i}": mf.make_video(folder / f"p{i}.mp4", duration_s=1.0 + (i % 2), fps=5, width=64, height=48,
                                   audio=mf.AudioSpec(sample_rate=16000, layout="mono"))
            for i in range(POOL)}


@pytest.fixture(scope="module")
def records(pool, extractor) -> dict[str, bytes]:
    """Each pool video's record, made on its own: the oracle for a clean run."""
    out = {}
    for result in extractor.run([Job(path, key=name) for name, path in pool.items()]):
        assert result.error is None, result.error
        out[result.job.key] = result.features.to_frame_record(result.job.key, []).SerializeToString(
            deterministic=True)
    return out


def _inputs(tmp_path: Path, pool: dict[str, Path], names: tuple[str, ...]) -> tuple[Path, Path]:
    """A folder of copies of the pool videos ``names``, and the output folder beside it."""
    videos = tmp_path / "videos"
    videos.mkdir()
    for name in names:
        shutil.copy(pool[name], videos)
    return videos, tmp_path / "out"


def _videos(folder: Path):
    return assign_ids(collect_inputs([folder]), "stem")


def _run(extractor, folder: Path, out: Path, **kwargs):
    return run_batch(extractor, _videos(folder), fmt="yt8m", out=out, shard_size=SHARD,
                     progress=False, **kwargs)


def _run_killed(extractor, folder: Path, out: Path, after: int, **kwargs) -> None:
    """A run killed after ``after`` videos (or one that ends first, having less to do)."""
    try:
        _run(_KillAfter(extractor, after), folder, out, **kwargs)
    except _Killed:
        pass


def _expected_shards(folder: Path, records: dict[str, bytes]) -> dict[str, bytes]:
    good = [p.stem for p in sorted(folder.iterdir()) if p.stem in records and _is_pool_copy(p)]
    names = sorted(p.stem for p in folder.iterdir())
    total = (len(names) + SHARD - 1) // SHARD
    shards = {}
    for k in range(total):
        members = [n for n in names[k * SHARD:(k + 1) * SHARD] if n in good]
        if members:
            name = f"features-{k:05d}-of-{total:05d}.tfrecord"
            shards[name] = b"".join(encode_record(records[n]) for n in members)
    return shards


def _is_pool_copy(path: Path) -> bool:
    return not path.read_bytes().startswith(b"corrupt")


def _check(out: Path, folder: Path, records: dict[str, bytes],
           before: dict[str, bytes] | None = None) -> None:
    """The folder as a clean run leaves it; ``before``: the shards before the run, which stay as
    they were when every current input is broken (a run replaces outputs only by valid ones)."""
    expected = _expected_shards(folder, records)
    if before and all(not _is_pool_copy(p) for p in folder.iterdir()):
        expected = before
    actual = {p.name: p.read_bytes() for p in out.glob("*.tfrecord")}
    assert sorted(actual) == sorted(expected)
    for name, data in expected.items():
        assert actual[name] == data, name
    broken = sorted(str(p) for p in folder.iterdir() if not _is_pool_copy(p))
    failures = out / "failures.csv"
    if broken:
        rows = list(csv.reader(failures.read_text().splitlines()))
        assert rows[0] == ["path", "reason"] and sorted(r[0] for r in rows[1:]) == broken
    else:
        assert not failures.exists()
    assert not (out / PARTS_DIR).exists()  # no parts left, not even an empty folder
    assert not list(out.rglob("*.part"))


def _corrupt(path: Path) -> None:
    path.write_bytes(b"corrupt" + bytes(range(256)) * 4)


# --- the numbered cases ----------------------------------------------------------------------

def test_case1_a_video_added_in_front_after_a_kill(extractor, pool, records, tmp_path) -> None:
    videos, out = _inputs(tmp_path, pool, ("p1", "p2", "p3"))
    with pytest.raises(_Killed):
        _run(_KillAfter(extractor, 2), videos, out)  # 3 to do: killed after 2
    (out / PARTS_DIR / ".leftover.rec.123.part").write_bytes(b"x")  # what a SIGKILL leaves
    shutil.copy(pool["p0"], videos)  # sorts first: every position moves
    report = _run(extractor, videos, out)
    assert len(report.done) + len(report.reused) == 4
    _check(out, videos, records)
    ids = [parse_record(r).video_id for p in sorted(out.glob("*.tfrecord")) for r in read_records(p)]
    assert ids == ["p0", "p1", "p2", "p3"]


def test_a_new_layout_replaces_the_old_shards_as_a_set(extractor, pool, records, tmp_path) -> None:
    videos, out = _inputs(tmp_path, pool, ("p1", "p2", "p3"))
    _run(extractor, videos, out)
    old = {p.name: p.read_bytes() for p in out.glob("*.tfrecord")}
    assert sorted(old) == ["features-00000-of-00002.tfrecord", "features-00001-of-00002.tfrecord"]
    shutil.copy(pool["p0"], videos)
    shutil.copy(pool["p4"], videos)  # 5 videos: 3 shards, every position after p0 moved
    with pytest.raises(_Killed):
        _run(_KillAfter(extractor, 1), videos, out)  # p0 and p4 to do: killed after one
    assert {p.name: p.read_bytes() for p in out.glob("*.tfrecord")} == old  # no mix of layouts
    _run(extractor, videos, out)
    _check(out, videos, records)


def test_a_run_killed_inside_the_swap_is_finished_by_the_next(extractor, pool, records, tmp_path,
                                                              monkeypatch) -> None:
    import yt8m.extraction.batch as batch

    videos, out = _inputs(tmp_path, pool, ("p1", "p2", "p3", "p4"))
    _run(extractor, videos, out)
    (videos / "p1.mp4").unlink()  # 3 videos: every shard changes, the names stay
    moves = []
    replace = os.replace

    def killed_after_one_move(src, dst):  # the moves of staged shards into place: killed after one
        if Path(src).parent == out / PARTS_DIR / "staged" and Path(dst).parent == out:
            if moves:
                raise _Killed
            moves.append(dst)
        replace(src, dst)

    monkeypatch.setattr(batch.os, "replace", killed_after_one_move)
    with pytest.raises(_Killed):
        _run(extractor, videos, out)
    monkeypatch.undo()
    # Killed between two renames: a mix of the two sets until the next run, which finishes the
    # swap from its journal before anything else (before: p2 read twice until a full rerun).
    assert len(moves) == 1 and (out / PARTS_DIR / batch.SWAP_FILE).is_file()
    report = _run(extractor, videos, out)
    assert report.done == [] and len(report.reused) == 3
    _check(out, videos, records)


def test_an_output_changed_since_it_was_written_is_redone(extractor, pool, records, tmp_path) -> None:
    videos, out = _inputs(tmp_path, pool, ("p0", "p1", "p2"))
    _run(extractor, videos, out)
    shard = out / "features-00000-of-00002.tfrecord"
    shard.write_bytes(b"stale")  # before: reported "2 skipped" and left as garbage
    report = _run(extractor, videos, out)
    assert sorted(p.name for p in report.done) == ["p0.mp4", "p1.mp4"] and len(report.reused) == 1
    _check(out, videos, records)
    single = tmp_path / "one.npz"
    run_batch(extractor, _videos(videos)[:1], fmt="npz", out=single, progress=False)
    single.write_bytes(b"not the features")
    again = run_batch(extractor, _videos(videos)[:1], fmt="npz", out=single, progress=False)
    assert len(again.done) == 1 and again.reused == [] and single.read_bytes().startswith(b"PK")


def test_a_rerun_reads_the_head_only_of_files_changed_since(extractor, pool, records, tmp_path,
                                                            monkeypatch) -> None:
    import yt8m.extraction.identity as identity

    reads = []
    real = identity._head_hash
    monkeypatch.setattr(identity, "_head_hash", lambda path: reads.append(path.name) or real(path))
    videos, out = _inputs(tmp_path, pool, ("p0", "p1", "p2"))
    _run(extractor, videos, out)
    assert sorted(reads) == ["p0.mp4", "p1.mp4", "p2.mp4"]
    reads.clear()
    assert len(_run(extractor, videos, out).reused) == 3 and reads == []  # before: 1 MiB of each, every run
    stat = (videos / "p1.mp4").stat()
    shutil.copy(pool["p3"], videos / "p1.mp4")  # another video under the same name
    os.utime(videos / "p1.mp4", ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))
    report = _run(extractor, videos, out)
    assert reads == ["p1.mp4"] and [p.name for p in report.done] == ["p1.mp4"]
    reads.clear()
    _run(extractor, videos, out, overwrite=True)  # --overwrite trusts nothing
    assert sorted(reads) == ["p0.mp4", "p1.mp4", "p2.mp4"]
    reads.clear()
    (out / identity.IDENTITY_CACHE).write_text("{damaged")
    assert len(_run(extractor, videos, out).reused) == 3 and len(reads) == 3


def test_another_shard_prefix_replaces_the_earlier_shards(extractor, pool, records, tmp_path) -> None:
    videos, out = _inputs(tmp_path, pool, ("p0", "p1", "p2"))
    _run(extractor, videos, out, shard_prefix="train")
    (out / "notes-00000-of-00001.tfrecord").write_bytes(b"a file yt8m did not write")
    report = _run(extractor, videos, out)  # before: train-* and features-* side by side
    assert report.done == [] and len(report.reused) == 3  # the records moved, nothing extracted again
    assert sorted(p.name for p in report.removed if p.suffix == ".tfrecord") == [
        "train-00000-of-00002.tfrecord", "train-00001-of-00002.tfrecord"]
    (out / "notes-00000-of-00001.tfrecord").unlink()  # left alone: not in the manifest
    _check(out, videos, records)


def test_a_run_whose_every_input_fails_leaves_the_shards_there(run_cli, with_weights, pool, tmp_path) -> None:
    videos, out = _inputs(tmp_path, pool, ("p0", "p1"))
    assert run_cli("extract", videos, "-o", out, "--shard-size", "2").exit_code == 0
    shards = {p.name: p.read_bytes() for p in out.glob("*.tfrecord")}
    for path in videos.iterdir():
        _corrupt(path)
    result = run_cli("extract", videos, "-o", out, "--shard-size", "2")
    assert result.exit_code == 1
    assert "every input failed, so the shards already there (1) are left as they were" in result.stderr
    assert {p.name: p.read_bytes() for p in out.glob("*.tfrecord")} == shards  # before: removed
    rows = list(csv.reader((out / "failures.csv").read_text().splitlines()))
    assert sorted(r[0] for r in rows[1:]) == sorted(str(p) for p in videos.iterdir())
    assert not (out / PARTS_DIR).exists()


def test_case2_broken_inputs_removed_after_a_finished_run(extractor, pool, records, tmp_path) -> None:
    videos, out = _inputs(tmp_path, pool, ("p0", "p1", "p2"))
    for name in ("a_bad.mp4", "b_bad.mp4", "c_bad.mp4"):
        _corrupt(videos / name)
    first = _run(extractor, videos, out)
    assert len(first.failed) == 3 and len(list(out.glob("*-of-00003.tfrecord"))) == 2  # shard 0: all failed
    for name in ("a_bad.mp4", "b_bad.mp4", "c_bad.mp4"):
        (videos / name).unlink()
    second = _run(extractor, videos, out)
    assert second.done == [] and len(second.reused) == 3 and second.failed_earlier == []
    assert any(p.name.endswith("-of-00003.tfrecord") for p in second.removed)
    _check(out, videos, records)


def test_case3_other_inputs_into_an_existing_folder(extractor, pool, records, tmp_path) -> None:
    videos, out = _inputs(tmp_path, pool, ("p0", "p1", "p2"))
    _run(extractor, videos, out)
    for path in list(videos.iterdir()):
        path.unlink()
    for name in ("p3", "p4", "p5"):
        shutil.copy(pool[name], videos)
    report = _run(extractor, videos, out)
    assert len(report.done) == 3 and report.reused == []
    _check(out, videos, records)


def test_case3_one_video_over_another_videos_output(run_cli, with_weights, media, tmp_path) -> None:
    out = tmp_path / "f.pb"
    assert run_cli("extract", media["h264_aac"], "-o", out).exit_code == 0
    first = out.read_bytes()
    other = tmp_path / "other.mp4"
    mf.make_video(other, duration_s=2.0, fps=5, width=64, height=48)
    result = run_cli("extract", other, "-o", out)
    assert result.exit_code == 0 and "1 extracted" in result.stderr, result.stderr
    assert out.read_bytes() != first
    fresh = tmp_path / "fresh.pb"
    assert run_cli("extract", other, "-o", fresh).exit_code == 0
    assert out.read_bytes() == fresh.read_bytes()
    again = run_cli("extract", other, "-o", out)  # now it is the same video and settings: reused
    assert again.exit_code == 0 and "0 extracted" in again.stderr and "1 skipped" in again.stderr


def test_case3_other_settings_are_not_reused(extractor, pool, tmp_path) -> None:
    videos, out = tmp_path / "videos", tmp_path / "out"
    videos.mkdir()
    shutil.copy(pool["p0"], videos)
    shutil.copy(pool["p1"], videos)  # 2 s
    _run(extractor, videos, out)
    clipped = _run(extractor, videos, out, end_s=1.0)  # another clip window: other features
    assert len(clipped.done) == 2 and clipped.reused == []
    assert ([parse_record(r).num_seconds for r in read_records(out / "features-00000-of-00001.tfrecord")]
            == [1, 1])


def test_case4_convert_with_every_input_failing_keeps_the_shard(run_cli, with_weights,
                                                                media, tmp_path) -> None:
    pb = tmp_path / "a.pb"
    assert run_cli("extract", media["h264_aac"], "-o", pb).exit_code == 0
    shard = tmp_path / "out.tfrecord"
    assert run_cli("convert", pb, "-o", shard).exit_code == 0
    good = shard.read_bytes()
    bad = tmp_path / "bad.pb"
    bad.write_text("garbage")
    result = run_cli("convert", bad, "-o", shard)
    assert result.exit_code == 1 and "bad.pb" in result.stderr
    assert shard.read_bytes() == good and not list(tmp_path.glob("*.part"))


def test_case5_overwrite_rewrites_the_shards(extractor, pool, records, tmp_path) -> None:
    videos, out = _inputs(tmp_path, pool, ("p0", "p1", "p2"))
    _run(extractor, videos, out)
    for shard in out.glob("*.tfrecord"):
        shard.write_bytes(b"stale")  # what --overwrite must replace
    report = _run(extractor, videos, out, overwrite=True)
    assert len(report.done) == 3 and report.reused == []
    _check(out, videos, records)


def test_a_second_run_into_the_same_folder_is_refused(extractor, pool, tmp_path) -> None:
    from yt8m.errors import InputError

    videos, out = tmp_path / "videos", tmp_path / "out"
    videos.mkdir()
    shutil.copy(pool["p0"], videos)
    out.mkdir()
    with output_lock(out), pytest.raises(InputError, match="another yt8m run"):
        _run(extractor, videos, out)
    assert (out / LOCK_FILE).exists() and not (out / MANIFEST_FILE).exists()


def test_a_changed_video_file_is_redone(extractor, pool, records, tmp_path) -> None:
    videos, out = tmp_path / "videos", tmp_path / "out"
    videos.mkdir()
    shutil.copy(pool["p0"], videos / "p0.mp4")
    shutil.copy(pool["p1"], videos / "p1.mp4")
    _run(extractor, videos, out)
    shutil.copy(pool["p2"], videos / "p1.mp4")  # same name, other content
    report = _run(extractor, videos, out)
    assert [p.name for p in report.done] == ["p1.mp4"] and [p.name for p in report.reused] == ["p0.mp4"]
    (record,) = [parse_record(r) for r in read_records(out / "features-00000-of-00001.tfrecord")][1:]
    assert record.video_id == "p1" and (record.rgb == parse_record(records["p2"]).rgb).all()


# --- the property: random sequences of changes, kills and reruns ------------------------------

@pytest.mark.parametrize("seed", [1, 2, 3])
def test_reruns_always_end_like_a_clean_run(extractor, pool, records, tmp_path, seed) -> None:
    rng = random.Random(seed)
    videos, out = tmp_path / "videos", tmp_path / "out"
    videos.mkdir()
    for name in rng.sample(sorted(pool), 3):
        shutil.copy(pool[name], videos)
    for _ in range(4):
        present = sorted(videos.iterdir())
        absent = [n for n in sorted(pool) if not (videos / f"{n}.mp4").exists()]
        op = rng.choice(["add", "remove", "corrupt", "none"])
        if op == "add" and absent:
            for name in rng.sample(absent, rng.randint(1, min(2, len(absent)))):
                shutil.copy(pool[name], videos)
        elif op == "remove" and len(present) > 1:
            rng.choice(present).unlink()
        elif op == "corrupt" and present:
            _corrupt(rng.choice(present))
        before = {p.name: p.read_bytes() for p in out.glob("*.tfrecord")}
        if rng.random() < 0.6:
            _run_killed(extractor, videos, out, rng.randint(0, 2), overwrite=rng.random() < 0.3)
            # Killed: the folder shows the earlier set untouched, or only shards of the new one.
            visible = {p.name: p.read_bytes() for p in out.glob("*.tfrecord")}
            expected = _expected_shards(videos, records)
            assert visible == before or all(expected.get(n) == b for n, b in visible.items())
        _run(extractor, videos, out, overwrite=rng.random() < 0.3)
        _check(out, videos, records, before)
