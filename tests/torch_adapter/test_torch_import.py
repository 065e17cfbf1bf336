"""``import initlab`` must not import torch; ``import initlab.torch`` does."""

from __future__ import annotations

import subprocess
import sys

import pytest


def _run(code):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip()


def test_import_initlab_does_not_import_torch():
    code = ("import sys, initlab, initlab.init, initlab.nn, initlab.diagnose, initlab.cli; "
            "import numpy as np; initlab.init.lsuv; print('torch' in sys.modules)")
    assert _run(code) == "False"


def test_import_initlab_torch_imports_torch():
    pytest.importorskip("torch")
    assert _run("import sys, initlab.torch; print('torch' in sys.modules)") == "True"
