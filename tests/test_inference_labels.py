"""Label names (label_map.txt, vocabulary.csv) and class-id whitelists."""

from __future__ import annotations

import pytest

from yt8m.errors import InputError
from yt8m.inference.labels import read_class_ids, read_label_map, resolve_label_map


def test_label_map_lines_are_names_verbatim(tmp_path) -> None:
    path = tmp_path / "label_map.txt"
    names = ["Game", "Call of Duty: Black Ops II", "Nike, Inc.", "???", "Pokémon", 'Say "cheese"',
             "Škoda Auto"]
    path.write_text("\n".join(names) + "\n", encoding="utf-8")
    labels = read_label_map(path)
    assert len(labels) == 7  # the final newline adds no class
    assert labels.names == ("Game", "Call of Duty: Black Ops II", "Nike, Inc.", None, "Pokémon",
                            'Say "cheese"',
                            "Škoda Auto")
    assert labels.name(3) is None and labels.name(99) is None
    labels.check_classes(7, model="m")
    with pytest.raises(InputError, match="names 7 classes but the model m predicts 3862"):
        labels.check_classes(3862, model="m")


def test_label_map_crlf_and_no_final_newline(tmp_path) -> None:
    path = tmp_path / "label_map.txt"
    path.write_bytes(b"a\r\nb: c\r\n\r\nd")
    assert read_label_map(path).names == ("a", "b: c", None, "d")


def test_vocabulary_csv_quoted_fields(tmp_path) -> None:
    path = tmp_path / "vocabulary.csv"
    path.write_text(
        "\ufeffIndex,TrainVideoCount,KnowledgeGraphId,Name,WikiUrl,Vertical1,Vertical2,Vertical3,WikiDescription\n"
        '1,10,/m/02,"Nike, Inc.",https://x,Shopping,,,"A company, ""Nike"", founded\nin 1964"\n'
        "0,20,/m/01,Game,https://y,Games,,,A game\n"
        '2,5,/m/03,"Call of Duty: Ghosts",https://z,Games,,,"Colons: fine"\n'
        "4,1,/m/05,Pokémon,https://w,Games,,,Monsters\n",
        encoding="utf-8")
    labels = read_label_map(path)
    assert labels.names == ("Game", "Nike, Inc.", "Call of Duty: Ghosts", None, "Pokémon")  # 3 has no row


@pytest.mark.parametrize("content,message", [
    (b"", "empty label map"),
    (b"caf\xe9\n", r"not UTF-8 text \(invalid byte at offset 3\)"),
    (b"Index,Name\nx,Game\n", "line 2: Index 'x' is not an integer"),
    (b"Index,Name\n0,a\n0,b\n", "line 3: Index 0 appears twice"),
    (b"Index,Name\n", "header but no rows"),
])
def test_bad_label_files(tmp_path, content, message) -> None:
    path = tmp_path / "labels"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        read_label_map(path)


def test_whitelist_skips_the_header(tmp_path) -> None:
    path = tmp_path / "segment_label_ids.csv"
    path.write_text("Index\n3\n15\n3\n\n7\n")
    assert read_class_ids(path) == [3, 15, 7]
    path.write_text("Index\n")
    with pytest.raises(InputError, match="holds no class ids"):
        read_class_ids(path)


def test_default_label_map_is_the_cached_artifact_or_none(tmp_path) -> None:
    notes: list[str] = []
    assert resolve_label_map(None, num_classes=3, model="m", notes=notes) is None
    assert "yt8m models download label-map" in notes[0]
    from yt8m.artifacts import cache, manifest

    target = cache.downloads_dir() / "label_map.txt"
    target.parent.mkdir(parents=True)
    target.write_text("a\nb\nc\n")
    manifest.record_artifact("label-map", target, sha256=cache.sha256_of(target), source="test")
    assert resolve_label_map(None, num_classes=3, model="m", notes=notes).names == ("a", "b", "c")
    assert resolve_label_map(None, num_classes=4, model="m", notes=notes) is None
    assert "names 3 classes, the model predicts 4" in notes[-1]
