"""Each family's published training recipe: the defaults of ``yt8m train``.

Starter-code families (github.com/google/youtube-8m ``train.py`` flags and model code):
batch 1024, Adam, ``base_learning_rate`` 0.01 multiplied by ``learning_rate_decay`` 0.95
every ``learning_rate_decay_examples`` 4,000,000 examples (staircase),
``clip_gradient_norm`` 1.0 (per tensor, ``tf.clip_by_norm``), ``regularization_penalty``
1.0, ``l2_penalty`` 1e-8 on the video-level classifier's weights, 5 epochs.

``gated_netvlad``: the WILLOW team's published command for their best single model
(github.com/antoine77340/Youtube-8M-WILLOW README: ``--batch_size=80
--base_learning_rate=0.0002 --learning_rate_decay=0.8 --moe_l2=1e-6 --iterations=300``,
decay every 4,000,000 examples as their train.py's default, 15 epochs as its default).

``nextvlad``: Lin et al.'s script (github.com/linrongc/youtube-8m
``scripts/train_nextvlad_local.sh``: two GPUs of ``--batch_size=80``, so 160 per step,
``--base_learning_rate=0.0002 --learning_rate_decay=0.8
--learning_rate_decay_examples 2000000 --l2_penalty=1e-5``, 5 epochs).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Recipe:
    batch_size: int = 1024
    base_learning_rate: float = 0.01
    learning_rate_decay: float = 0.95
    learning_rate_decay_examples: int = 4_000_000
    clip_gradient_norm: float = 1.0
    regularization_penalty: float = 1.0
    l2_penalty: float = 1e-8
    epochs: int = 5


_STARTER = Recipe()

RECIPES: dict[str, Recipe] = {
    "logistic": _STARTER,
    "moe": _STARTER,
    "frame_logistic": _STARTER,
    "dbof": _STARTER,
    "lstm": _STARTER,
    "gated_netvlad": Recipe(batch_size=80, base_learning_rate=0.0002, learning_rate_decay=0.8,
                            l2_penalty=1e-6,
                            epochs=15),
    "nextvlad": Recipe(batch_size=160, base_learning_rate=0.0002, learning_rate_decay=0.8,
                       learning_rate_decay_examples=2_000_000, l2_penalty=1e-5),
}

#: Families trained on one row of mean features per video (the dataset's mean_rgb, mean_audio).
VIDEO_LEVEL = ("logistic", "moe")
