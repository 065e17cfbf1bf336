"""initlab.torch: initlab's initializers for any ``torch.nn.Module`` (extra ``initlab[torch]``).

``import initlab`` never imports torch; ``import initlab.torch`` does.

- :func:`init_` initializes a model in place (or plans it with ``dry_run=True``) and returns
  an :class:`InitPlan` saying, per parameter, the fans, the scheme, the std and why.
- :func:`lsuv_` is LSUV (Mishkin & Matas 2016) in execution order.
- :func:`walk` lists every parameter with its role and true fans (``initlab.torch.walk``);
  :func:`trace_forward` finds what consumes each layer's output (``initlab.torch.tracing``).
- :func:`inspect` diagnoses a model's init on a batch (the diagnostics' Report);
  :class:`Probe` records the same statistics every N steps of any training loop;
  :func:`coord_check` is muP's coordinate check with fitted slopes and findings.

Example:
    >>> import torch
    >>> import initlab.torch as it
    >>> m = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
    >>> plan = it.init_(m, seed=0)
    >>> plan.rows[0]["scheme"], plan.rows[0]["reason"]
    ('he_normal', "auto -> he_normal: nn.ReLU '1'")
"""

from initlab.torch.coord_check import CoordCheck, coord_check
from initlab.torch.init import init_
from initlab.torch.inspect import inspect
from initlab.torch.lsuv import lsuv_
from initlab.torch.plan import InitPlan, PlanRow
from initlab.torch.probe import Probe
from initlab.torch.tracing import Consumer, ForwardTrace, Residual, trace_forward
from initlab.torch.walk import Site, to_torch, walk, weight_modules

__all__ = [
    "init_", "lsuv_", "InitPlan", "PlanRow",
    "Site", "walk", "weight_modules", "to_torch",
    "Consumer", "Residual", "ForwardTrace", "trace_forward",
    "inspect", "Probe", "coord_check", "CoordCheck",
]
