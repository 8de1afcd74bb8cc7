"""Reruns into an existing shard folder end like a clean run: the bookkeeping, at volume.

The property: whatever happened to a ``yt8m`` output folder before (videos added, removed,
corrupted or repaired, the feature settings changed, a shard file scribbled over, runs
killed at any point of their writing), a run that completes leaves exactly what a clean
run of the current inputs into an empty folder leaves: the same shard files, byte for
byte, and a failures.csv naming exactly the current broken inputs; no parts folder, no
temporary ``*.part`` file. The rules checked after every completed run:

1. shards == the clean run's shards, byte for byte, and failures.csv names exactly the
   current broken inputs; except for rule 2;
2. a run whose every input fails leaves what was there: when it had no good input and
   shards existed before it started, the shards after it are byte-identical to those
   before, a scribbled one included (failures.csv still lists the broken inputs);
3. a scribbled shard is never reused as is (rule 1 holds after the rerun);
4. a settings change is a new key: every good input is extracted again (nothing made
   with the old settings is reused), and the shards equal a clean run's with the new ones.

Also: ``overwrite`` extracts every current input once, and a rerun after a completed run
with nothing changed extracts nothing.

Each seed (its own shard size, 1 to 3) takes random steps over a pool of 8 video names:
one change (add 1-2 videos, remove one, corrupt one, repair one, flip the settings,
scribble over a shard, or nothing), then killed runs (at least one with probability 1/2,
each with ``overwrite`` at 30 %), then, mostly, a full run (``overwrite`` at 30 %); a step
without one hands what the killed runs left to the next change.

Runs are killed at random points: between two results of the extractor, and on the Nth
call (N random) of any of ``os.replace`` (as ``yt8m._files`` and the batch module see it),
the batch module's ``write_bytes_atomic`` or the manifest's append, before or after the
call does its work; a kill before an atomic rename also leaves the temporary file behind,
as a SIGKILL would.

Why a stub extractor: its features are derived from the video file's bytes (and the
settings), so a run costs milliseconds and 25 seeds x 8 steps fit in well under a minute;
no media is decoded. The property test in test_reruns.py runs the real extractor (few
seeds, few steps) and so keeps the numerics path covered; this one covers the rerun
bookkeeping at volume. The oracle is a run of the stub into a fresh empty folder, itself
checked against the records built one by one (``FeatureSequence.to_frame_record``), framed
in input order and cut every ``shard_size`` videos.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import random
import shutil
from pathlib import Path

import numpy as np
import pytest

import yt8m._files as files_module
from yt8m.errors import InputError
from yt8m.extraction import batch
from yt8m.extraction.batch import FAILURES_FILE, run_batch
from yt8m.extraction.inputs import PARTS_DIR, assign_ids, collect_inputs
from yt8m.extraction.scheduler import Result
from yt8m.features.sequence import AUDIO_DIM, RGB_DIM, FeatureSequence
from yt8m.formats.tfrecord import encode_record

# 50 seeds in the suite; YT8M_RERUN_SEEDS=1500 for a longer sweep (1500 passed, about 3.5 min).
SEEDS = range(int(os.environ.get("YT8M_RERUN_SEEDS", "50")))
STEPS = 10
POOL = [f"v{i}" for i in range(8)]
OPS = ["add", "remove", "corrupt", "repair", "settings", "scribble", "none"]


class _Killed(Exception):
    """Stands for the run being killed."""


# --- the stub extractor ------------------------------------------------------------------------

def _is_broken(path: Path) -> bool:
    return path.read_bytes().startswith(b"corrupt")


def _features(data: bytes, settings: dict) -> FeatureSequence:
    """1-3 seconds of features determined by the file's bytes and the settings."""
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode("utf-8") + b"\0" + data).digest()
    rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
    seconds = int(rng.integers(1, 4))
    stamps = np.arange(seconds, dtype=np.int64) * 1_000_000
    rgb = rng.uniform(-1.9, 1.9, (seconds, RGB_DIM)).astype(np.float32)
    if not settings["audio"]:
        return FeatureSequence(rgb, stamps, None, None)
    audio = rng.uniform(-1.9, 1.9, (seconds, AUDIO_DIM)).astype(np.float32)
    return FeatureSequence(rgb, stamps, audio, stamps.copy())


class _Stub:
    """An Extractor that decodes nothing: features from the file's bytes, a file starting with
    ``corrupt`` fails; results come in a random order. ``attempted`` lists the videos it
    extracted (or failed) in this run; ``kill_after`` stops it, as killed, after that many results."""

    def __init__(self, settings: dict, rng: random.Random, kill_after: int | None = None) -> None:
        self.settings, self.rng, self.kill_after = dict(settings), rng, kill_after
        self.attempted: list[Path] = []

    def feature_settings(self) -> dict:
        return dict(self.settings)

    def run(self, jobs, *, workers=None, on_frames=None):
        jobs = list(jobs)
        self.rng.shuffle(jobs)  # the real extractor yields results as videos finish
        for count, job in enumerate(jobs):
            if count == self.kill_after:
                raise _Killed
            self.attempted.append(job.path)
            try:
                data = Path(job.path).read_bytes()
            except OSError as exc:
                yield Result(job, error=InputError(f"{job.path}: cannot read ({exc.strerror})"))
                continue
            if data.startswith(b"corrupt"):
                yield Result(job, error=InputError(f"{job.path}: not a video (stub)"))
                continue
            features = _features(data, self.settings)
            if on_frames is not None:
                on_frames(features.num_seconds)
            yield Result(job, features=features)


# --- kills at random points ----------------------------------------------------------------------

class _Tripwire:
    """Counts the calls it wraps and raises _Killed on the ``at``-th, before or after the call."""

    def __init__(self, at: int, after: bool) -> None:
        self.at, self.after, self.calls = at, after, 0

    def call(self, fn, *args, leave_part: bool = False):
        self.calls += 1
        if self.calls == self.at and not self.after:
            src = Path(args[0]) if leave_part else None
            if src is not None and src.name.endswith(".part") and src.is_file():
                shutil.copyfile(src, src.with_name(f".{Path(args[1]).name}.killed.part"))  # as SIGKILL leaves
            raise _Killed
        out = fn(*args)
        if self.calls == self.at:
            raise _Killed
        return out


class _Os:
    """The ``os`` module as one module sees it, with ``replace`` going through a tripwire."""

    def __init__(self, trip: _Tripwire, leave_part: bool) -> None:
        self._trip, self._leave_part = trip, leave_part

    def __getattr__(self, name: str):
        return getattr(os, name)

    def replace(self, src, dst) -> None:
        self._trip.call(os.replace, src, dst, leave_part=self._leave_part)


# --- runs and checks ------------------------------------------------------------------------------

def _videos(folder: Path):
    return assign_ids(collect_inputs([folder]), "stem")


def _run(stub: _Stub, folder: Path, out: Path, shard_size: int, overwrite: bool):
    return run_batch(stub, _videos(folder), fmt="yt8m", out=out, shard_size=shard_size,
                     overwrite=overwrite, progress=False)


def _killed_run(rng: random.Random, stub: _Stub, folder: Path, out: Path, shard_size: int,
                overwrite: bool) -> bool:
    """A run killed at a random point; True when it was (a run with little to do may end first)."""
    try:
        if rng.random() < 0.3:
            stub.kill_after = rng.randint(0, 3)
            _run(stub, folder, out, shard_size, overwrite)
            return False
        inputs = len(list(folder.iterdir()))
        trip = _Tripwire(rng.randint(1, 2 + rng.choice([2, 6]) * inputs), after=rng.random() < 0.5)
        real_write, real_add = batch.write_bytes_atomic, batch._Manifest.add

        def add(manifest, entry) -> None:
            if trip.calls + 1 == trip.at and not trip.after and rng.random() < 0.3:
                line = json.dumps(entry, separators=(",", ":"))  # a torn append: part of the line
                with open(manifest.path, "a", encoding="utf-8") as handle:
                    handle.write(line[:rng.randint(1, len(line) - 1)])
            trip.call(real_add, manifest, entry)

        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(files_module, "os", _Os(trip, leave_part=True))
            mp.setattr(batch, "os", _Os(trip, leave_part=False))
            mp.setattr(batch, "write_bytes_atomic", lambda path, data: trip.call(real_write, path, data))
            mp.setattr(batch._Manifest, "add", add)
            _run(stub, folder, out, shard_size, overwrite)
        return False
    except _Killed:
        return True


def _shards(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in out.glob("*.tfrecord")} if out.is_dir() else {}


def _shards_there(out: Path) -> dict[str, bytes]:
    """The shards a run finds: those in the folder, with the set swap a killed run left
    unfinished (its journal, .yt8m-parts/swap.json) carried out, as any run does first:
    the listed old files removed, the staged ones moved in (an empty one removes its name)."""
    shards = _shards(out)
    journal = out / PARTS_DIR / "swap.json"
    if not journal.is_file():
        return shards
    swap = json.loads(journal.read_text())
    for name in swap["remove"]:
        shards.pop(name, None)
    for entry in swap["install"]:
        staged = out / PARTS_DIR / "staged" / entry["output"]
        if entry.get("empty"):
            shards.pop(entry["output"], None)
        elif staged.is_file():
            shards[entry["output"]] = staged.read_bytes()
    return shards


def _failure_paths(out: Path) -> list[str] | None:
    """The paths failures.csv names, sorted; None without the file."""
    path = out / FAILURES_FILE
    if not path.exists():
        return None
    rows = list(csv.reader(path.read_text(encoding="utf-8").splitlines()))
    assert rows[0] == ["path", "reason"]
    return sorted(row[0] for row in rows[1:])


def _built_shards(folder: Path, settings: dict, shard_size: int) -> dict[str, bytes]:
    """The shards of a clean run, built record by record: input order, cut every shard_size."""
    inputs = sorted(folder.iterdir())
    total = (len(inputs) + shard_size - 1) // shard_size
    shards = {}
    for k in range(total):
        records = [encode_record(_features(p.read_bytes(), settings).to_frame_record(p.stem, [])
                                 .SerializeToString(deterministic=True))
                   for p in inputs[k * shard_size:(k + 1) * shard_size] if not _is_broken(p)]
        if records:
            shards[f"features-{k:05d}-of-{total:05d}.tfrecord"] = b"".join(records)
    return shards


class _Oracle:
    """Clean runs of the stub into fresh folders, remembered by what they were made from."""

    def __init__(self, scratch: Path, shard_size: int) -> None:
        self.scratch, self.shard_size = scratch, shard_size
        self.known: dict[tuple, tuple[dict[str, bytes], list[str] | None]] = {}

    def __call__(self, folder: Path, settings: dict) -> tuple[dict[str, bytes], list[str] | None]:
        key = (json.dumps(settings, sort_keys=True),
               tuple((p.name, p.read_bytes()) for p in sorted(folder.iterdir())))
        if key not in self.known:
            fresh = self.scratch / f"clean{len(self.known)}"
            _run(_Stub(settings, random.Random(0)), folder, fresh, self.shard_size, overwrite=False)
            shards = _shards(fresh)
            assert shards == _built_shards(folder, settings, self.shard_size), "the clean run itself"
            self.known[key] = (shards, _failure_paths(fresh))
            shutil.rmtree(fresh)
        return self.known[key]


def _check_completed(out: Path, folder: Path, settings: dict, oracle: _Oracle,
                     before: dict[str, bytes], rule: str, where: str) -> None:
    """The rules after a run that completed; ``before``: the shards when it started."""
    inputs = sorted(folder.iterdir())
    broken = sorted(str(p) for p in inputs if _is_broken(p))
    expected, clean_failures = oracle(folder, settings)
    actual = _shards(out)
    if len(broken) == len(inputs) and before:
        assert actual == before, f"rule 2 (every input failed: the shards there stay): {where}"
    else:
        assert sorted(actual) == sorted(expected), f"{rule}: shard names: {where}"
        for name, data in expected.items():
            assert actual[name] == data, f"{rule}: {name} differs from the clean run's: {where}"
    assert _failure_paths(out) == clean_failures == (broken or None), f"failures.csv: {where}"
    parts = out / PARTS_DIR
    assert not parts.exists(), f"a parts folder is left ({sorted(p.name for p in parts.rglob('*'))}): {where}"
    assert not list(out.rglob("*.part")), f"a temporary file is left: {where}"


# --- the property ------------------------------------------------------------------------------------

def _good_bytes(rng: random.Random) -> bytes:
    return b"good" + rng.randbytes(rng.randint(8, 200))


def _scribble(rng: random.Random, shard: Path) -> None:
    """Garbage over a shard: a new content of any length, or bytes changed in place (same size).
    The scribble is later than the shard's writing: a clock too coarse to tell is moved on."""
    old = shard.stat()
    data = bytearray(shard.read_bytes())
    if rng.random() < 0.5 or not data:
        shard.write_bytes(rng.randbytes(rng.randint(0, 300)))
    else:
        start = rng.randrange(len(data))
        for i in range(start, min(len(data), start + rng.randint(1, 16))):
            data[i] ^= rng.randint(1, 255)
        shard.write_bytes(bytes(data))
    new = shard.stat()
    if new.st_mtime_ns == old.st_mtime_ns:
        os.utime(shard, ns=(new.st_atime_ns, old.st_mtime_ns + 1_000_000_000))


@pytest.mark.parametrize("seed", SEEDS)
def test_reruns_end_like_a_clean_run(tmp_path: Path, seed: int) -> None:
    """Random steps: one change, then killed runs (none, one or more), then mostly a full
    run; the rules are checked after every run that completes."""
    rng = random.Random(seed)
    shard_size = rng.choice([1, 2, 3])
    videos, out = tmp_path / "videos", tmp_path / "out"
    videos.mkdir()
    for name in rng.sample(POOL, rng.randint(2, 4)):
        (videos / f"{name}.mp4").write_bytes(_good_bytes(rng))
    oracle = _Oracle(tmp_path, shard_size)
    settings = {"stub": 1, "audio": True}
    completed_settings = None  # the settings of the last run that completed
    attempted: set[Path] = set()  # the videos the stub extracted since then
    settled = False  # the last run completed, with a good input, and nothing happened since
    pending: set[str] = set()  # the changes since then
    history: list[str] = []

    def completed(before: dict[str, bytes], where: str) -> None:
        nonlocal completed_settings
        rule = "rule 3" if "scribble" in pending else "rule 4" if "settings" in pending else "rule 1"
        _check_completed(out, videos, settings, oracle, before, rule, where)
        if completed_settings is not None and settings != completed_settings:
            good = {p for p in videos.iterdir() if not _is_broken(p)}
            assert good <= attempted, f"rule 4 (other settings: every good input extracted again): {where}"
        completed_settings = settings
        attempted.clear()
        pending.clear()

    for step in range(STEPS):
        present = sorted(videos.iterdir())
        absent = [n for n in POOL if not (videos / f"{n}.mp4").exists()]
        broken = [p for p in present if _is_broken(p)]
        shards = sorted(out.glob("*.tfrecord")) if out.is_dir() else []
        op = rng.choice(OPS)
        if op == "add" and absent:
            for name in rng.sample(absent, rng.randint(1, min(2, len(absent)))):
                (videos / f"{name}.mp4").write_bytes(_good_bytes(rng))
        elif op == "remove" and len(present) > 1:
            rng.choice(present).unlink()
        elif op == "corrupt":
            rng.choice(present).write_bytes(b"corrupt" + rng.randbytes(rng.randint(0, 100)))
        elif op == "repair" and broken:
            rng.choice(broken).write_bytes(_good_bytes(rng))
        elif op == "settings":
            settings = {**settings, "audio": not settings["audio"]}
        elif op == "scribble" and shards:
            _scribble(rng, rng.choice(shards))
        else:
            op = "none"
        history.append(op)
        pending.add(op)
        was_settled, settled = settled and op == "none", False
        inputs = sorted(videos.iterdir())

        kills = 0
        while kills < 3 and rng.random() < 0.5:
            kills += 1
            before = _shards_there(out)
            stub = _Stub(settings, rng)
            overwrite = rng.random() < 0.3
            killed = _killed_run(rng, stub, videos, out, shard_size, overwrite)
            attempted.update(stub.attempted)
            history.append(("killed" if killed else "unkilled") + ("(overwrite)" if overwrite else ""))
            if not killed:
                where = f"seed {seed} step {step} (not killed after all), shard size {shard_size}, {history}"
                completed(before, where)
                if overwrite:
                    assert sorted(stub.attempted) == inputs, f"overwrite extracts every input once: {where}"
        if step < STEPS - 1 and rng.random() < 0.15:
            continue  # the next change meets what the killed runs left

        before = _shards_there(out)
        overwrite = rng.random() < 0.3
        history.append("run(overwrite)" if overwrite else "run")
        where = f"seed {seed} step {step}, shard size {shard_size}, {history}"
        stub = _Stub(settings, rng)
        _run(stub, videos, out, shard_size, overwrite)
        attempted.update(stub.attempted)
        completed(before, where)
        if overwrite:
            assert sorted(stub.attempted) == inputs, f"overwrite extracts every input once: {where}"
        if was_settled and not kills and not overwrite:
            assert stub.attempted == [], f"nothing changed since a completed run: nothing extracted: {where}"
        settled = any(not _is_broken(p) for p in inputs)
