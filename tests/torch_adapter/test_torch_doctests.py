"""The adapter's docstring examples run and print what they say."""

from __future__ import annotations

import doctest
import importlib

import pytest

pytest.importorskip("torch", reason="torch is not installed (pip install initlab[torch])")

MODULES = ["initlab.torch", "initlab.torch.init", "initlab.torch.walk", "initlab.torch.tracing",
           "initlab.torch.fx_trace", "initlab.torch.recipes", "initlab.torch.zoo",
           "initlab.torch.plan", "initlab.torch.lsuv"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
