"""Extraction: videos in, YouTube-8M features out.

* :mod:`~yt8m.extraction.options`: :class:`ExtractOptions` and the CLI options that build it;
* :mod:`~yt8m.extraction.scheduler`: :class:`Extractor`, the models on one device and the
  threads that decode videos for them;
* :mod:`~yt8m.extraction.inputs`: files, folders and manifests expanded into videos;
* :mod:`~yt8m.extraction.batch`: a run over many videos into files or shards, resumable.
"""

from __future__ import annotations

from yt8m.extraction.options import ExtractOptions
from yt8m.extraction.scheduler import Extractor, Job, Result, extract

__all__ = ["ExtractOptions", "Extractor", "Job", "Result", "extract"]
