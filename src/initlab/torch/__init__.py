"""initlab.torch: the PyTorch adapter (extra ``initlab[torch]``).

Diagnose any ``nn.Module`` (:func:`inspect`), watch it train (:class:`Probe`) and check it
across widths (:func:`coord_check`). ``import initlab`` never imports torch; this package does.
"""

from initlab.torch.inspect import inspect

__all__ = ["inspect"]
