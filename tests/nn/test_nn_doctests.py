"""The examples in the residual engine's docstrings run and print what they claim."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["initlab.nn.residual", "initlab.nn.graph", "initlab.nn.recipes", "initlab.nn.layers",
           "initlab.nn.schedules", "initlab.experiments.residual", "initlab.nn.blas",
           "initlab.nn.jit", "initlab.nn.finite", "initlab.nn.jit_kernels"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    if name == "initlab.nn.jit_kernels":
        pytest.importorskip(name, reason="the compiled kernels (C extension) were not built")
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
