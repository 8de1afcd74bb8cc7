"""Training YouTube-8M classifiers in PyTorch, with the starter code's recipe.

* :mod:`.data`: streaming datasets over YouTube-8M TFRecord shards (frame or video level),
  split across DataLoader workers, shuffled through a bounded buffer;
* :mod:`.loss`: the starter code's ``CrossEntropyLoss`` and L2 regularisation;
* :mod:`.recipes`: each family's published hyper-parameters;
* :mod:`.trainer`: the training loop (checkpoints, resume, validation metrics; several processes
  under torchrun with DDP; segment-rated fine-tuning), whose
  output is a native yt8m model that ``yt8m predict`` and ``yt8m eval`` load.
"""

from yt8m.train.loss import cross_entropy_loss, l2_regularization
from yt8m.train.recipes import RECIPES, Recipe
from yt8m.train.trainer import TrainOptions, TrainResult, train

__all__ = ["RECIPES", "Recipe", "TrainOptions", "TrainResult", "cross_entropy_loss",
           "l2_regularization", "train"]
