"""Official weights: importers against TensorFlow, and downloads against a real local server."""

from __future__ import annotations

import dataclasses
import io
import multiprocessing
import tarfile

import numpy as np
import pytest

from http_server import Fault, FileServer
from tf_oracle import run_tf
from yt8m.artifacts import cache, manifest, registry
from yt8m.cli import main
from yt8m.errors import WeightsError
from yt8m.weights import store
from yt8m.weights.convert import (
    inception_from_graph, pca_from_matrix_data, pca_from_vggish_npz, pca_from_yt8m_tgz,
)

_TF_DUMP_CONSTS = """
from tensorflow.core.framework import graph_pb2
gd = graph_pb2.GraphDef.FromString(open(args["graph"], "rb").read())
arrays, eps = {}, set()
for n in gd.node:
    if n.op == "Const" and n.attr["dtype"].type == tf.float32.as_datatype_enum:
        arrays[n.name.replace("/", "|")] = tf.make_ndarray(n.attr["value"].tensor)
    if n.op == "BatchNormWithGlobalNormalization":
        eps.add(n.attr["variance_epsilon"].f)
np.savez(args["out"], **arrays)
result = sorted(eps)
"""


def test_inception_importer_reproduces_every_tensor(official_files, tmp_path) -> None:
    dump = tmp_path / "consts.npz"
    eps = run_tf(_TF_DUMP_CONSTS, tmp_path, graph=str(official_files["inception-graph"]), out=str(dump))
    converted = inception_from_graph(official_files["inception-graph"].read_bytes(), where="graph")
    assert converted.meta["epsilon"] == pytest.approx(eps[0]) and len(eps) == 1
    assert converted.meta["scale_after_normalization"] is False
    with np.load(dump) as consts:
        names = [k.replace("|", "/") for k in consts.files]
        checked = 0
        for tf_name in names:
            value = consts[tf_name.replace("/", "|")]
            if tf_name.endswith("/conv2d_params"):
                ours = converted.tensors[tf_name[: -len("/conv2d_params")].replace("/", ".") + ".weight"]
                np.testing.assert_array_equal(ours, value.transpose(3, 2, 0, 1))
            elif "/batchnorm/" in tf_name:
                scope, _, kind = tf_name.rpartition("/batchnorm/")
                np.testing.assert_array_equal(converted.tensors[f"{scope.replace('/', '.')}.{kind}"], value)
            elif tf_name == "softmax/weights":
                np.testing.assert_array_equal(converted.tensors["softmax.weight"], value.T)
            elif tf_name == "softmax/biases":
                np.testing.assert_array_equal(converted.tensors["softmax.bias"], value)
            else:
                continue
            checked += 1
    assert checked == len(converted.tensors) == 94 * 5 + 2
    store.check_shapes("inception", converted.tensors, where="graph")


def test_inception_epsilon_is_read_from_the_graph(tmp_path) -> None:
    import official_fixtures as of

    graph = tmp_path / "g.pb"
    of.make_inception_graph(graph, tmp_path, seed=3, epsilon=0.0025)
    assert inception_from_graph(graph.read_bytes(), where="g").meta["epsilon"] == pytest.approx(0.0025)


def test_pca_importers(official_files) -> None:
    import official_fixtures as of  # noqa: F401 - the files were written by its hand encoder

    mean = official_files["inception3-pca-mean"].read_bytes()
    proj = official_files["inception3-pca-projection"].read_bytes()
    pca = pca_from_matrix_data(mean, proj, where="pca").tensors
    assert pca["mean"].shape == (2048,) and pca["projection"].shape == (1024, 2048)
    # Column-major packed data: element (r, c) sits at index c * rows + r.
    packed = np.frombuffer(proj[-1024 * 2048 * 4:], "<f4")  # no layout field follows: column-major
    assert pca["projection"][5, 7] == packed[7 * 1024 + 5]

    with tarfile.open(official_files["yt8m-pca"]) as tar:
        arrays = {m.name: np.load(io.BytesIO(tar.extractfile(m).read())) for m in tar}
    old = pca_from_yt8m_tgz(official_files["yt8m-pca"]).tensors
    expected = np.diag(1 / np.sqrt(arrays["eigenvals.npy"][:1024, 0] + 1e-4)) @ arrays["eigenvecs.npy"][:1024]
    np.testing.assert_allclose(old["projection"], expected, rtol=1e-6)
    np.testing.assert_array_equal(old["mean"], arrays["mean.npy"][:, 0].astype(np.float32))

    vgg = pca_from_vggish_npz(official_files["vggish-pca-params"]).tensors
    with np.load(official_files["vggish-pca-params"]) as npz:
        np.testing.assert_array_equal(vgg["projection"], npz["pca_eigen_vectors"].astype(np.float32))
        np.testing.assert_array_equal(vgg["mean"], npz["pca_means"].astype(np.float32))


def test_bad_weight_files_name_the_file(tmp_path) -> None:
    bad = tmp_path / "classify_image_graph_def.pb"
    bad.write_bytes(b"\x0a\x05hello")
    with pytest.raises(WeightsError, match="classify_image_graph_def.pb"):
        inception_from_graph(bad.read_bytes(), where=str(bad))
    with pytest.raises(WeightsError, match="not a readable tar archive|holds no mean.npy"):
        pca_from_yt8m_tgz(bad)


# --- downloads against a local server ------------------------------------------------------

@pytest.fixture
def server(official_files, monkeypatch):
    monkeypatch.setattr("yt8m.artifacts.download.RETRY_BACKOFF_S", 0.01)
    srv = FileServer(official_files["inception-graph"].parent).start()
    yield srv
    srv.stop()


@pytest.fixture
def fixture_sizes(official_files, monkeypatch):
    """The registry, with the sizes of the generated files in place of the official ones."""
    for name, path in official_files.items():
        monkeypatch.setitem(registry.ARTIFACTS, name,
                            dataclasses.replace(registry.ARTIFACTS[name], size=path.stat().st_size))


def manifest_json() -> dict:
    """The manifest as written on disk (its format is kept across versions)."""
    import json

    path = manifest.manifest_path()
    return json.loads(path.read_text()) if path.exists() else {"artifacts": {}, "models": {}}


def _cache_files() -> list[str]:
    root = cache.cache_dir()
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if p.is_file() and not p.name.endswith(".lock"))


def test_download_converts_and_caches(server, fixture_sizes, capsys) -> None:
    assert main(["models", "download", "inception", "inception-pca", "vggish-pca",
                 "--mirror", server.url]) == 0
    out = capsys.readouterr().out
    assert "ready: inception" in out and "ready: vggish-pca" in out
    manifest = manifest_json()
    assert set(manifest["models"]) == {"inception", "inception-pca", "vggish-pca"}
    entry = manifest["artifacts"]["inception-2015-12-05"]
    assert entry["sha256"] == cache.sha256_of(cache.downloads_dir() / "inception-2015-12-05.tgz")
    assert not any(f.endswith(".part") for f in _cache_files())
    w = store.load("inception", fetch=False)
    assert w.tensors["conv.weight"].shape == (32, 3, 3, 3) and w.meta["epsilon"] == pytest.approx(0.001)
    assert main(["models", "verify"]) == 0
    assert main(["models", "list", "--json"]) == 0


def test_download_resumes_after_dropped_connection(server, fixture_sizes) -> None:
    name = "inception-2015-12-05.tgz"
    server.faults[name] = Fault(drop_after=1_000_000, times=1)
    path = store.download(["inception-2015-12-05"], mirror=server.url)
    assert path == ["inception"]
    ranges = [r for n, r in server.requests if n == name]
    assert len(ranges) == 2 and ranges[0] is None
    resumed_at = int(ranges[1].removeprefix("bytes=").rstrip("-"))
    assert 900_000 < resumed_at <= 1_000_000  # all whole chunks received before the drop
    assert manifest_json()["artifacts"]["inception-2015-12-05"]["sha256"] == \
        cache.sha256_of(server.root / name)


def test_download_restarts_when_server_ignores_range(server, fixture_sizes) -> None:
    name = "vggish_pca_params.npz"
    server.faults[name] = Fault(drop_after=5000, times=1, ignore_range=True)
    store.download(["vggish-pca-params"], mirror=server.url)
    assert cache.sha256_of(cache.downloads_dir() / name) == cache.sha256_of(server.root / name)


@pytest.mark.parametrize("fault,message", [
    (Fault(status=404), "HTTP 404"),
    (Fault(drop_after=100, times=99), "connection closed before the whole file arrived.*after 5 attempts"),
])
def test_failed_download_leaves_nothing(server, fixture_sizes, fault, message) -> None:
    server.faults["yt8m_pca.tgz"] = fault
    with pytest.raises(WeightsError, match=message) as info:
        store.download(["yt8m-pca"], mirror=server.url)
    assert "yt8m-pca" in str(info.value)
    assert _cache_files() == [] or _cache_files() == ["manifest.json"]
    assert manifest_json()["artifacts"] == {}


def test_wrong_size_is_rejected(server, official_files, monkeypatch) -> None:
    artifact = registry.ARTIFACTS["inception-2015-12-05"]  # official size, not the fixture's
    assert artifact.size == 88_931_400
    with pytest.raises(WeightsError, match=r"'inception-2015-12-05'.*expected 88931400; deleted"):
        store.download(["inception"], mirror=server.url)
    assert "downloads/inception-2015-12-05.tgz" not in _cache_files()
    assert manifest_json()["models"] == {}


def test_corrupt_file_is_not_cached_as_a_model(server, fixture_sizes, tmp_path, monkeypatch) -> None:
    corrupt = tmp_path / "srv"
    corrupt.mkdir()
    (corrupt / "yt8m_pca.tgz").write_bytes(b"this is not a tar archive at all")
    server.root = corrupt
    monkeypatch.setitem(registry.ARTIFACTS, "yt8m-pca",
                        dataclasses.replace(registry.ARTIFACTS["yt8m-pca"], size=None))
    with pytest.raises(WeightsError, match="yt8m_pca.tgz: not a readable tar archive"):
        store.download(["yt8m-pca"], mirror=server.url)
    assert "inception-pca" not in manifest_json()["models"]
    assert not store.model_path("inception-pca").exists()


def _download_in_child(mirror: str, sizes: dict[str, int], queue) -> None:
    for name, size in sizes.items():
        registry.ARTIFACTS[name] = dataclasses.replace(registry.ARTIFACTS[name], size=size)
    try:
        store.download(["inception"], mirror=mirror, progress=False)
        queue.put("ok")
    except Exception as exc:  # noqa: BLE001 - report anything to the parent
        queue.put(repr(exc))


def test_two_processes_end_with_one_good_copy(server, official_files) -> None:
    sizes = {k: p.stat().st_size for k, p in official_files.items()}
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_download_in_child, args=(server.url, sizes, queue)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert sorted(queue.get(timeout=5) for _ in procs) == ["ok", "ok"]
    assert [n for n, _ in server.requests].count("inception-2015-12-05.tgz") == 1
    assert not any(f.endswith(".part") for f in _cache_files())
    assert store.verify() == []


def test_missing_weights_without_network_say_how(monkeypatch) -> None:
    with pytest.raises(WeightsError) as info:
        store.load("vggish", fetch=False)
    text = str(info.value)
    assert "yt8m models download vggish" in text
    assert "https://storage.googleapis.com/audioset/vggish_model.ckpt" in text


def test_unreachable_host_fails_fast_with_instructions() -> None:
    with pytest.raises(WeightsError) as info:
        store.download(["vggish-pca"], mirror="http://no-such-host.invalid")
    text = str(info.value)
    assert ("does not resolve" in text and "yt8m models import" in text and "vggish_mean_matrix_data.pb"
            in text)
    assert manifest_json()["artifacts"] == {}


def test_import_then_verify_detects_tampering(official_files, fixture_sizes, capsys) -> None:
    assert main(["models", "import", str(official_files["vggish-pca-params"]),
                 str(official_files["inception-graph"])]) == 0
    ready = capsys.readouterr().out
    assert "ready: vggish-pca" in ready and "ready: inception" in ready
    assert store.verify() == []
    cached = cache.downloads_dir() / "vggish_pca_params.npz"
    data = bytearray(cached.read_bytes())
    data[len(data) // 2] ^= 0xFF
    cached.write_bytes(bytes(data))
    assert main(["models", "verify"]) == 3
    assert "vggish-pca-params" in capsys.readouterr().err


def test_import_rejects_unknown_names(tmp_path) -> None:
    other = tmp_path / "weights.bin"
    other.write_bytes(b"x")
    with pytest.raises(WeightsError, match="weights.bin: not a known artifact file name"):
        store.import_files([other])


def test_loading_converted_weights_is_fast(official_files, fixture_sizes) -> None:
    store.import_files([official_files["inception-graph"]])
    import time

    start = time.perf_counter()
    weights = store.load("inception", fetch=False)
    elapsed = time.perf_counter() - start
    assert len(weights.tensors) == 472
    print(f"load('inception') from cache: {elapsed:.3f} s")


# --- model specs carry their shapes ----------------------------------------------------------

def test_spec_shapes_are_those_of_the_networks() -> None:
    # The specs write the shapes out so that yt8m.weights never imports the networks;
    # here they are checked against the networks themselves.
    from yt8m.features.inception import InceptionV3
    from yt8m.features.vggish import VGGish
    from yt8m.weights.specs import MODELS

    for name, module in (("inception", InceptionV3()), ("vggish", VGGish())):
        assert dict(MODELS[name].shapes) == {k: tuple(v.shape) for k, v in module.state_dict().items()}
    assert MODELS["inception-pca"].shapes == {"mean": (2048,), "projection": (1024, 2048)}
    assert MODELS["vggish-pca"].shapes == {"mean": (128,), "projection": (128, 128)}


# --- the typed manifest ------------------------------------------------------------------------

def test_manifest_records_are_typed_and_a_damaged_entry_reads_as_absent(tmp_path) -> None:
    target = cache.downloads_dir() / "label_map.txt"
    target.parent.mkdir(parents=True)
    target.write_text("a\nb\n")
    record = manifest.record_artifact("label-map", target, sha256=cache.sha256_of(target), source="test")
    assert manifest.artifact_record("label-map") == record
    assert (record.file, record.size, record.source) == ("label_map.txt", 4, "test")
    assert manifest.read_manifest().models == {}
    document = manifest_json()
    document["artifacts"]["vocabulary"] = {"file": "vocabulary.csv"}  # no size, no sha256
    manifest.manifest_path().write_text(__import__("json").dumps(document))
    assert manifest.artifact_record("vocabulary") is None
    assert set(manifest.read_manifest().artifacts) == {"label-map"}
    manifest.manifest_path().write_text("{not json")
    assert manifest.read_manifest().artifacts == {}


# --- `models download` names what it fetched, and only what was asked ---------------------------

def test_download_of_an_artifact_names_it_and_nothing_else(server, fixture_sizes, official_files, tmp_path,
                                                           capsys) -> None:
    store.import_files([official_files["vggish-pca-params"]])  # a model is ready in the cache
    assert {r["name"]: r["status"] for r in store.status()}["vggish-pca"] == "ready"
    served = tmp_path / "srv"
    served.mkdir()
    (served / "label_map.txt").write_text("a\nb\nc\n")
    server.root = served
    assert main(["models", "download", "label-map", "--mirror", server.url]) == 0
    assert capsys.readouterr().out == "ready: label-map\n"
    assert [name for name, _ in server.requests] == ["label_map.txt"]
    assert store.download(["vggish-pca", "label-map"], mirror=server.url) == ["label-map", "vggish-pca"]


# --- `models import` and the published size ------------------------------------------------------

def test_import_refuses_a_size_other_than_the_published_one(official_files, capsys) -> None:
    graph = official_files["inception-graph"]
    size = graph.stat().st_size
    assert size != registry.ARTIFACTS["inception-graph"].size
    assert main(["models", "import", str(official_files["vggish-pca-params"]), str(graph)]) == 3
    err = capsys.readouterr().err
    assert str(graph) in err and f"{size} bytes" in err and "95673916 bytes" in err
    assert "--allow-size-mismatch" in err
    assert _cache_files() == []  # nothing imported, not even the other file


def test_import_with_allow_size_mismatch_warns(official_files, caplog, capsys) -> None:
    graph = official_files["inception-graph"]
    size = graph.stat().st_size
    assert main(["models", "import", "--allow-size-mismatch", str(graph)]) == 0
    assert capsys.readouterr().out == "ready: inception\n"
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1
    assert str(graph) in warnings[0] and f"{size} bytes" in warnings[0] and "95673916 bytes" in warnings[0]
    assert "importing it anyway" in warnings[0]


def test_import_help_says_what_is_refused() -> None:
    from click.testing import CliRunner

    from yt8m.cli.app import cli

    text = " ".join(CliRunner().invoke(cli, ["models", "import", "--help"]).output.split())
    assert "--allow-size-mismatch" in text and "differs from the published size is refused" in text


# --- the mirror is a parameter; $YT8M_MIRROR only its default ------------------------------------

def test_mirror_parameter_wins_over_the_environment(server, fixture_sizes, monkeypatch) -> None:
    from yt8m.features.pca import load_pca

    monkeypatch.setenv("YT8M_MIRROR", "http://no-such-host.invalid")
    store.ensure_models(["vggish-pca"], mirror=server.url)
    pca = load_pca("inception-pca", mirror=server.url)
    assert pca.projection.shape == (1024, 2048)
    assert {name for name, _ in server.requests} == {
        "vggish_mean_matrix_data.pb", "vggish_projection_matrix_data.pb",
        "inception3_mean_matrix_data.pb", "inception3_projection_matrix_data.pb"}


def test_the_environment_is_the_default_mirror(server, fixture_sizes, monkeypatch) -> None:
    monkeypatch.setenv("YT8M_MIRROR", server.url)
    assert store.download(["vggish-pca"]) == ["vggish-pca"]
    monkeypatch.setenv("YT8M_MIRROR", "http://no-such-host.invalid")
    with pytest.raises(WeightsError, match="no-such-host.invalid"):
        store.ensure_models(["inception-pca"])


def test_networks_and_classifiers_pass_the_mirror_on(server, monkeypatch, tmp_path) -> None:
    from yt8m.errors import InputError
    from yt8m.features.inception import inception_v3
    from yt8m.features.vggish import vggish
    from yt8m.inference.classifiers.loader import load_classifier

    class Asked(Exception):
        pass

    def fake_load(name, **kwargs):
        raise Asked(name, kwargs)

    monkeypatch.setattr(store, "load", fake_load)
    for build, name in ((inception_v3, "inception"), (vggish, "vggish")):
        with pytest.raises(Asked) as info:
            build(mirror="http://mirror.example/w")
        assert info.value.args == (name, {"fetch": True, "mirror": "http://mirror.example/w"})

    served = tmp_path / "srv"
    served.mkdir()
    with tarfile.open(served / "saved_model.tar.gz", "w:gz") as tar:
        info = tarfile.TarInfo("README")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    server.root = served
    with pytest.raises(InputError, match="not a classifier"):
        load_classifier("baseline", mirror=server.url)
    assert [name for name, _ in server.requests] == ["saved_model.tar.gz"]


def test_dataset_shards_are_not_fetched_from_a_mirror(server, tmp_path) -> None:
    from yt8m.artifacts import Artifact, fetch_artifact

    served = tmp_path / "srv"
    served.mkdir()
    (served / "train0000.tfrecord").write_bytes(b"records")
    server.root = served
    shard = Artifact("yt8m-shard-train0000", f"{server.url}/train0000.tfrecord", "train0000.tfrecord",
                     "a shard", mirrored=False)
    assert shard.url_under("http://no-such-host.invalid") == shard.url
    assert fetch_artifact(shard, mirror="http://no-such-host.invalid").read_bytes() == b"records"
