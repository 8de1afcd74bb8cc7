"""Several training processes (torchrun, gloo on CPU): disjoint data, one model, the 1-process gradient,
resume."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file

import ddp_worker
import train_data as td
import yt8m
from yt8m.cli import main
from yt8m.train import TrainOptions, train, trainer
from yt8m.train.data import ShardDataset, make_loader

CLASSES = 20
TESTS = Path(__file__).resolve().parent
SRC = Path(yt8m.__file__).resolve().parents[1]


# Two shared cores: one torch thread is many times faster than two fighting other work.
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("ddp_shards")
    videos = td.make_videos(48, CLASSES, seed=11, frames=(2, 4))
    td.write_shards(d, videos[:40], 1, prefix="train")  # one file: the processes take alternate records
    td.write_shards(d, videos[40:], 1, prefix="validate")
    return d


#: The run every test below compares with: moe (no batch norm, no random draws), shard order, 5 steps of 8.
RUN = ["--model", "moe", "--num-classes", CLASSES, "--batch-size", 8, "--epochs", 1, "--shuffle-buffer", 0,
       "--workers", 1, "--log-every", 1, "--checkpoint-every", 2, "--learning-rate", 0.01, "--no-progress"]


def _torchrun(*args, gradients: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), str(TESTS)])}
    env.pop("YT8M_TEST_GRADIENTS", None)
    if gradients is not None:
        env["YT8M_TEST_GRADIENTS"] = str(gradients)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               str(TESTS / "ddp_worker.py"), "train", *map(str, args)]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture(scope="module")
def two_process_run(data, tmp_path_factory):
    d = tmp_path_factory.mktemp("ddp_run")
    done = _torchrun(data / "train0000.tfrecord", "-o", d / "model", "--validate",
                     data / "validate0000.tfrecord",
                     *RUN, gradients=d / "grad")
    assert done.returncode == 0, done.stderr[-3000:]
    return {"dir": d, "model": d / "model", "stderr": done.stderr}


def test_each_rank_and_worker_reads_a_disjoint_share(data, tmp_path) -> None:
    """Ranks x DataLoader workers split the records (or files) between them, and together read them all."""
    paths = td.write_shards(tmp_path, td.make_videos(30, CLASSES, seed=12, frames=(2, 3)), 3)
    everything = None
    for files in (paths, paths[:1]):  # by file (3 files, ... readers) and by record (1 file)
        for world, workers in ((2, 0), (2, 2), (3, 1)):
            seen: list[bytes] = []
            for rank in range(world):
                dataset = ShardDataset(files, level="frame", num_classes=CLASSES, rank=rank, world_size=world,
                                       shuffle_buffer=4, seed=1)
                loader = make_loader(dataset, batch_size=1, workers=workers, device=torch.device("cpu"))
                seen += [batch.features.numpy().tobytes() for batch in loader]
            assert len(seen) == len(set(seen)), (len(files), world, workers)
            whole = sorted(b.features.numpy().tobytes() for b in make_loader(
                ShardDataset(files, level="frame", num_classes=CLASSES), batch_size=1, workers=0,
                device=torch.device("cpu")))
            assert sorted(seen) == whole
        everything = whole
    assert everything


def test_two_processes_train_one_model_with_the_one_process_gradient(data, two_process_run, tmp_path,
                                                                     monkeypatch, capsys) -> None:
    run = two_process_run
    assert "moe trained for 5 steps (40 examples" in run["stderr"] and "2 processes" in run["stderr"]
    out = run["model"]
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint", "classifier.json", "metrics.jsonl",
                                                     "model.safetensors"]
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [x["step"] for x in lines if x["kind"] == "train"] == [1, 2, 3, 4, 5]  # once each: rank 0 alone
    assert [x["examples"] for x in lines if x["kind"] == "train"] == [8, 16, 24, 32, 40]
    # The model loads in yt8m eval, which reports what the run's last validation did.
    assert main(["eval", str(data / "validate0000.tfrecord"), "--model", str(out), "--json"]) == 0
    evaluated = json.loads(capsys.readouterr().out)["video"]
    assert evaluated["gap"] == pytest.approx(lines[-1]["gap"], abs=1e-6)
    # The same global batches in one process: rank 0 read records 0, 2, 4, 6 and rank 1 records 1, 3, 5, 7 of
    # the shard, one process reads 0-7; their first gradient (all-reduced, before clipping) is the same.
    monkeypatch.setattr(trainer, "clip_by_norm", trainer.clip_by_norm)  # put back after the test
    ddp_worker.capture_first_gradients(str(tmp_path / "grad"))
    result = train(TrainOptions(train_shards=[str(data / "train0000.tfrecord")], family="moe",
                                output=str(tmp_path / "one"), num_classes=CLASSES, batch_size=8, epochs=1,
                                shuffle_buffer=0, workers=1, base_learning_rate=0.01, progress=False))
    assert result.steps == 5 and result.examples == 40
    one = torch.load(tmp_path / "grad.0.pt")
    rank0 = torch.load(run["dir"] / "grad.0.pt")
    rank1 = torch.load(run["dir"] / "grad.1.pt")
    assert len(one) == len(rank0) == len(rank1)
    for a, b, c in zip(one, rank0, rank1, strict=True):
        torch.testing.assert_close(b, c, rtol=0, atol=0)  # every process applies the same gradient
        torch.testing.assert_close(b, a, rtol=0, atol=1e-6)
        assert a.abs().max() > 1e-4  # a real gradient, not zeros
    # ... and, step after step, the same weights.
    single = load_file(str(tmp_path / "one" / "model.safetensors"))
    double = load_file(str(out / "model.safetensors"))
    for name in single:
        np.testing.assert_allclose(double[name], single[name], rtol=0, atol=1e-5, err_msg=name)


def test_two_processes_resume(data, two_process_run, tmp_path) -> None:
    """Stopped after 2 steps (a checkpoint) and resumed by 2 processes: the uninterrupted run's weights."""
    out = tmp_path / "split"
    first = _torchrun(data / "train0000.tfrecord", "-o", out, *RUN, "--max-steps", 3)
    assert first.returncode == 0, first.stderr[-3000:]
    again = _torchrun(data / "train0000.tfrecord", "-o", out, *RUN, "--resume")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "trained for 5 steps (40 examples" in again.stderr
    whole = load_file(str(two_process_run["model"] / "model.safetensors"))
    resumed = load_file(str(out / "model.safetensors"))
    for name in whole:
        np.testing.assert_array_equal(resumed[name], whole[name], err_msg=name)
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [x["step"] for x in lines if x["kind"] == "train"] == [1, 2, 3, 4, 5]

