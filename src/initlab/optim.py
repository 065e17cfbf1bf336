"""``initlab.optim``: the engine's composable optimizers, importable by their short name.

The implementation lives in :mod:`initlab.nn.optim`; this module only makes
``import initlab.optim`` and ``from initlab.optim import sgd`` work.

Example:
    >>> from initlab.optim import chain, clip_by_global_norm, sgd
    >>> opt = chain(clip_by_global_norm(1.0), sgd(0.1, momentum=0.9))
"""

from initlab.nn.optim import *  # noqa: F403
from initlab.nn.optim import __all__ as __all__  # noqa: F401
