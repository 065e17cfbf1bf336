"""initlab.init: every weight-initialization scheme, by the names Keras and PyTorch users type.

    >>> from initlab.init import get, fans, gain, names
    >>> ini = get("he_normal")
    >>> W = ini((784, 128), rng=0)              # float32 ndarray of that shape
    >>> ini.describe((784, 128))
    'he_normal: N(0, sigma) with sigma = sqrt(2 / fan_in) = sqrt(2 / 784) = 0.0505'
    >>> fans((3, 3, 16, 32))
    (144, 288)

Modules: ``fans`` (shapes and fans), ``gains`` (PyTorch's gain table), ``sampling`` (draws,
the truncated-normal constant), ``base`` (the Initializer contract), ``basic`` (constant,
uniform, normal, truncated normal), ``variance`` (the Glorot/He/LeCun family),
``structured`` (orthogonal, identity, sparse, delta_orthogonal, ZerO), ``spec`` (the spec
parser), ``registry`` (names, flavors, :func:`get`), ``lsuv`` (LSUV over a small protocol
every engine implements).
"""

from initlab.init.base import Initializer
from initlab.init.basic import Constant, Normal, TruncatedNormal, Uniform
from initlab.init.fans import fans
from initlab.init.gains import gain
from initlab.init.lsuv import LSUVReport, LSUVTarget, lsuv
from initlab.init.registry import FLAVORS, get, names, schemes
from initlab.init.sampling import TRUNCATED_STD_2, truncated_std
from initlab.init.structured import DeltaOrthogonal, Dirac, Identity, Orthogonal, Sparse, ZerO
from initlab.init.variance import TorchLinearDefault, VarianceScaling

__all__ = [
    "Initializer",
    "get",
    "fans",
    "gain",
    "lsuv",
    "LSUVTarget",
    "LSUVReport",
    "names",
    "schemes",
    "FLAVORS",
    "TRUNCATED_STD_2",
    "truncated_std",
    "Constant",
    "Uniform",
    "Normal",
    "TruncatedNormal",
    "VarianceScaling",
    "TorchLinearDefault",
    "Orthogonal",
    "Identity",
    "Dirac",
    "Sparse",
    "DeltaOrthogonal",
    "ZerO",
]
