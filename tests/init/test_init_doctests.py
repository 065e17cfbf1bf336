"""The examples in initlab.init's docstrings run and print what they claim."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "base",
    "basic",
    "checks",
    "fans",
    "gains",
    "registry",
    "sampling",
    "spec",
    "structured",
    "variance",
    "lsuv",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(f"initlab.init.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
