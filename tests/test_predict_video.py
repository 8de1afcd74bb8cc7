"""`yt8m predict` on a video: extraction, then windows, end to end."""

from __future__ import annotations

import json

from yt8m.inference.classifiers.loader import save_native
from yt8m.inference.classifiers.native import build_model


def test_predict_on_a_video_extracts_first(with_weights, run_cli, media, tmp_path) -> None:
    model_dir = save_native(build_model("logistic", num_classes=7, seed=1), tmp_path / "model")
    labels = tmp_path / "labels.txt"
    labels.write_text("".join(f"class {i}\n" for i in range(6)) + "Pokémon, the: series\n", encoding="utf-8")
    out = tmp_path / "predictions.json"
    video = tmp_path / "v.mp4"
    import media_factory as mf

    mf.make_video(video, duration_s=6.0, fps=5, width=64, height=48)
    annotated = tmp_path / "annotated.mp4"
    result = run_cli("predict", video, "--model", model_dir, "--labels", labels, "-o", out,
                     "--annotate", annotated)
    assert result.exit_code == 0, result.stderr
    import av

    with av.open(str(annotated)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 30  # 6 s at 5 fps, every frame kept
    predictions = json.loads(out.read_text(encoding="utf-8"))
    assert predictions["num_seconds"] == 6
    # 6 seconds, windows of 5 overlapping by 4: starts 0 and 1.
    assert [(w["start_s"], w["end_s"]) for w in predictions["windows"]] == [(0.0, 5.0), (1.0, 6.0)]
    assert all(len(w["labels"]) == 3 for w in predictions["windows"])
    assert predictions["audio"] == "present"
