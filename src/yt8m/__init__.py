"""yt8m: YouTube-8M features and predictions for your own videos.

The file formats live in :mod:`yt8m.formats`; the command line in :mod:`yt8m.cli`.
"""

from yt8m._version import __version__
from yt8m.errors import InputError, Yt8mError

__all__ = ["InputError", "Yt8mError", "__version__"]
