import subprocess
import sys

from initlab import __version__
from initlab.cli import main


def test_no_command_prints_help_and_fails(capsys):
    assert main([]) == 2
    assert "usage: initlab" in capsys.readouterr().out


def test_version_via_module_entry_point():
    out = subprocess.run(
        [sys.executable, "-m", "initlab", "--version"], capture_output=True, text=True, check=True
    )
    lines = out.stdout.splitlines()
    assert lines[0] == f"initlab {__version__}"
    from initlab.nn import blas

    # the CPU and NumPy's BLAS kernels (the thread count is this process's, not the child's)
    assert lines[1].startswith("NumPy ") and blas.describe().rsplit(",", 1)[0] in lines[1]
    advice = blas.kernel_advice()
    assert (lines[2:] == [f"note: {advice}"]) if advice else len(lines) == 2
