"""The small classifier and label file the web tests serve (random weights, spread-out scores)."""

from __future__ import annotations

from pathlib import Path

import torch

from yt8m.inference.classifiers import build_model, save_native

#: Names with commas, colons, ampersands and a "???" entry, as in the real label map.
LABELS = ["Vehicle", "Arts & Entertainment, Music", "Sport: Football", "Cooking", "Animal",
          "Game, Video game",
          "Dance", "Concert", "Nature: Landscape", "Car", "Guitar", "???"]


def make_model_files(directory: Path) -> tuple[Path, Path]:
    """Write a 12-class frame-level logistic model and its label file; return both paths."""
    model = build_model("frame_logistic", num_classes=len(LABELS), seed=3)
    with torch.no_grad():
        for name, tensor in model.named_parameters():
            if name.endswith("weights"):
                tensor.mul_(60)
            else:
                tensor.copy_(torch.linspace(-2.5, 1.0, tensor.shape[0]))
    labels = directory / "labels.txt"
    labels.write_text("\n".join(LABELS) + "\n", encoding="utf-8")
    return save_native(model, directory / "model"), labels
