"""The examples in the docstrings of the data, report and CLI-summary modules run as shown."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "initlab.viz.colors",
    "initlab.viz.text",
    "initlab.viz.report",
    "initlab.viz.style",
    "initlab.viz.plots",
    "initlab.data.remote",
    "initlab.data.registry",
    "initlab.data.images",
    "initlab.cli.reproduce",
    "initlab.experiments.base",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)                 # examples that write files write them here
    monkeypatch.delenv("INITLAB_DATA", raising=False)
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
