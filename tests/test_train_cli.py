"""``yt8m train``: the command, its outputs, and one-line errors naming the bad file."""

from __future__ import annotations

import json

import numpy as np
import pytest

import train_data as td
from yt8m.cli import main
from yt8m.formats import example as ex
from yt8m.formats import protos
from yt8m.formats.tfrecord import write_records
from yt8m.inference.classifiers import load_classifier

CLASSES = 20


# Two shared cores: one torch thread is many times faster than two fighting other work.
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli_shards")
    videos = td.make_videos(120, CLASSES, seed=7, frames=(2, 4))
    td.write_shards(d, videos[:100], 2, prefix="train")
    td.write_shards(d, videos[100:], 1, prefix="validate")
    return d


def _train(*args, capsys=None):
    code = main(["train", *map(str, args)])
    return code, (capsys.readouterr().err if capsys else "")


def test_train_writes_a_model_metrics_and_a_checkpoint(data, tmp_path, capsys) -> None:
    out = tmp_path / "m"
    code, err = _train(f"{data}/train*.tfrecord", "--model", "moe", "-o", out, "--validate",
                       f"{data}/validate*",
                       "--num-classes", CLASSES, "--batch-size", 10, "--epochs", 2, "--checkpoint-every", 4,
                       "--log-every", 2, "--workers", 2, "--model-option", "num_mixtures=3", capsys=capsys)
    assert code == 0, err
    assert "moe trained for 20 steps (200 examples" in err and "validation at step 20: GAP@20" in err
    config = json.loads((out / "classifier.json").read_text())
    assert config["family"] == "moe" and config["num_mixtures"] == 3 and config["num_classes"] == CLASSES
    assert (out / "checkpoint" / "state.pt").is_file()
    assert json.loads((out / "checkpoint" / "train.json").read_text())["batch_size"] == 10
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [x["step"] for x in lines if x["kind"] == "validation"] == [4, 8, 12, 16, 20]
    assert {"gap", "map", "hit_at_one", "perr"} <= set(lines[-1])
    with load_classifier(out) as classifier:
        assert classifier.predict(np.zeros((1, 3, 1152), np.float32), [3]).shape == (1, CLASSES)
    # A finished run is not overwritten; --resume continues it (to a later --max-steps or epoch).
    code, err = _train(f"{data}/train*.tfrecord", "--model", "moe", "-o", out, "--num-classes", CLASSES,
                       capsys=capsys)
    assert code == 2 and "already holds a model or checkpoint; pass --resume" in err
    code, err = _train(f"{data}/train*.tfrecord", "--model", "moe", "-o", out, "--num-classes", CLASSES,
                       "--batch-size", 20, "--model-option", "num_mixtures=3", "--resume", capsys=capsys)
    assert (code == 2
            and "--resume needs the options of the checkpointed run (batch_size: 10 then, 20 now)" in err)


def test_audio_only_model_of_old_video_id_records(tmp_path, capsys) -> None:
    """--features audio trains on the audio columns; predict still feeds it whole rows. Records keyed
    video_id."""
    videos = td.make_videos(40, CLASSES, seed=8, frames=(2, 3))
    records = []
    for vid, labels, q in videos:
        record = protos.SequenceExample()
        ex.set_bytes(record.context, "video_id", [vid])
        ex.set_int64(record.context, "labels", labels)
        for name, part in (("rgb", q[:, :1024]), ("audio", q[:, 1024:])):
            for row in part:
                record.feature_lists.feature_list[name].feature.add().bytes_list.value.append(row.tobytes())
        records.append(record.SerializeToString())
    write_records(tmp_path / "old.tfrecord", records)
    out = tmp_path / "audio"
    code, err = _train(tmp_path / "old.tfrecord", "--model", "dbof", "-o", out, "--features", "audio",
                       "--num-classes", CLASSES, "--batch-size", 8, "--epochs", 1, "--workers", 0,
                       "--model-option", "cluster_size=16", "--model-option", "hidden_size=8", capsys=capsys)
    assert code == 0, err
    config = json.loads((out / "classifier.json").read_text())
    assert config["input_features"] == "audio" and config["feature_size"] == 128
    rows = np.random.default_rng(0).normal(size=(2, 4, 1152)).astype(np.float32)
    with load_classifier(out) as classifier:
        scores = classifier.predict(rows, [4, 2])
        changed = rows.copy()
        changed[..., :1024] = 0  # the rgb columns do not count
        np.testing.assert_array_equal(classifier.predict(changed, [4, 2]), scores)


def test_bad_inputs_are_one_line_errors_naming_the_file(data, tmp_path, capsys) -> None:
    base = ["--model", "logistic", "--num-classes", CLASSES, "--batch-size", 10, "--epochs", 1]
    code, err = _train(tmp_path / "missing.tfrecord", *base, "-o", tmp_path / "a", capsys=capsys)
    assert code == 2 and err.strip() == f"yt8m: error: {tmp_path / 'missing.tfrecord'}: no such file"
    code, err = _train(f"{tmp_path}/nothing*.tfrecord", *base, "-o", tmp_path / "a", capsys=capsys)
    assert code == 2 and "no file matches this pattern" in err
    corrupt = tmp_path / "corrupt.tfrecord"
    raw = bytearray((data / "train0000.tfrecord").read_bytes())
    raw[5000] ^= 0xFF
    corrupt.write_bytes(bytes(raw))
    for workers in ("0", "1"):  # in this process, and in a reader process
        code, err = _train(corrupt, *base, "-o", tmp_path / f"c{workers}", "--workers", workers,
                           capsys=capsys)
        assert code == 2, err
        assert len(err.strip().splitlines()) == 1 and f"{corrupt}: record" in err and "corrupt" in err
    code, err = _train(data / "train0000.tfrecord", "--model", "logistic", "--num-classes", 3, "--batch-size",
                       10,
                       "-o", tmp_path / "labels", "--workers", "1", capsys=capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert f"{data / 'train0000.tfrecord'} record" in err and "is out of range for 3 classes" in err
    code, err = _train(data / "train0000.tfrecord", *base, "-o", tmp_path / "opt", "--model-option",
                       "bogus=1",
                       capsys=capsys)
    assert code == 2 and "bad options for model family 'logistic'" in err
    code, err = _train(data / "train0000.tfrecord", *base, "-o", tmp_path / "r", "--resume", capsys=capsys)
    assert code == 2 and "no checkpoint to resume from" in err
    code, err = _train(data / "train0000.tfrecord", "--model", "dbof", "--level", "video", "-o",
                       tmp_path / "v",
                       capsys=capsys)
    assert code == 2 and "frame-level family" in err
