"""One line naming the machine a torch benchmark ran on: CPU model, threads, BLAS kernel."""

from __future__ import annotations

import os


def machine(threads: int) -> str:
    """``"torch 2.13.0+cpu, 2 threads, <CPU model>, BLAS <kernel>, load <1-min average>"``."""
    import torch

    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    blas = "?"
    try:
        from threadpoolctl import threadpool_info

        blas = ", ".join(sorted({f"{i.get('internal_api')} {i.get('architecture', '')}".strip()
                                 for i in threadpool_info() if i.get("user_api") == "blas"}))
    except ImportError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"torch {torch.__version__}, {threads} threads, {cpu}, BLAS {blas or '?'} "
            f"(threadpoolctl), load average {load:.1f} at the start")
