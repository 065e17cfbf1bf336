"""Every ```python block of README.md runs as written, in a fresh interpreter.

The blocks are found by parsing the README each run, so a block someone adds is tested
without touching this file. Each block runs on its own (it must define its own data) in an
empty working folder beside a link to ``../shared``, exactly where the README's relative paths
(``../shared/data/mnist``, ``runs/...``) expect to be. A block preceded by the line
``<!-- readme-test: slow -->`` is marked slow; a block that reads the real MNIST files skips
when they are absent, as the other tests that need them do.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
SHARED = REPO.parent / "shared"
SLOW_MARK = "<!-- readme-test: slow -->"
_FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


def python_blocks(text: str) -> list[tuple[int, str, bool]]:
    """(line number, code, slow?) of every ```python block of a Markdown text.

    Example:
        >>> python_blocks("a\\n```python\\nx = 1\\n```\\n")
        [(2, 'x = 1\\n', False)]
    """
    out = []
    for m in _FENCE.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        before = text[: m.start()].rstrip("\n").rsplit("\n", 1)[-1].strip()
        out.append((line, m.group(1), before == SLOW_MARK))
    return out


def _params() -> list[object]:
    params = []
    for line, code, slow in python_blocks(README.read_text(encoding="utf-8")):
        marks = [pytest.mark.slow] if slow else []
        params.append(pytest.param(code, id=f"README.md:{line}", marks=marks))
    return params


def test_the_readme_has_python_blocks_to_test():
    blocks = python_blocks(README.read_text(encoding="utf-8"))
    assert len(blocks) >= 5
    assert any(not slow for _, _, slow in blocks), "keep a fast subset in the default run"


@pytest.mark.parametrize("code", _params())
def test_readme_block_runs_as_written(code, tmp_path):
    if "../shared/data/mnist" in code and not (
            SHARED / "data" / "mnist" / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"this block reads the real MNIST test split, not at {SHARED}/data/mnist")
    work = tmp_path / "work"
    work.mkdir()
    if SHARED.exists():
        (tmp_path / "shared").symlink_to(SHARED, target_is_directory=True)
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "MPLBACKEND": "Agg",
           "INITLAB_DATA": str(tmp_path / "cache")}       # never the user's cache
    env.pop("INITLAB_DATA_MIRROR", None)
    proc = subprocess.run([sys.executable, "-c", code], cwd=work, env=env, timeout=600,
                          capture_output=True, text=True)
    assert proc.returncode == 0, f"the block failed:\n{code}\n--- stderr ---\n{proc.stderr}"
