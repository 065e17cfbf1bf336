"""NumPy's BLAS: which library and kernels it runs, its thread count, and whether those kernels
fit the CPU.

The engines' products are BLAS calls, so the kernels OpenBLAS picked when NumPy loaded it set
their speed. OpenBLAS picks them once, from the CPU's family and model, unless the environment
variable ``OPENBLAS_CORETYPE`` names a kernel family; that variable is read once, when OpenBLAS
loads, and holds for the whole process, so initlab never sets it. Measured on a 2-vCPU AMD EPYC
of family 26 (Zen 5, AVX-512) whose environment set ``OPENBLAS_CORETYPE=Haswell``: NumPy 2.4.6's
OpenBLAS 0.3.31 ran its Haswell (AVX2) kernels and a float32 2048^3 matmul at 230 GFLOP/s;
without the variable it chose its SkylakeX (AVX-512) kernels, 414 GFLOP/s, and
``benchmarks/engine.py`` trained 1.4-1.6x faster. :func:`kernel_advice` says so when it finds
kernels without AVX-512 on a CPU with AVX-512; ``initlab --version`` prints it.

This module also holds the thread-count plumbing both engines use (:func:`caller_threads`,
:class:`BlasThreads`, :class:`BlasLimit`): every change is for one ``with`` block and restored
after. OpenBLAS does not always give the same bits on one thread and on several: on that AMD
EPYC, with its Haswell kernels, a float32 (128, 785) @ (785, 128) product differed in 64 % of
its entries between one and two threads (with its SkylakeX kernels it did not); on a Zen 4
EPYC (family 25, model 17) the SkylakeX kernels differed in 79 % of them, while the
(785, 128) @ (128, 128) weight-gradient product kept its bits.
:func:`product_plan` is how fit checks its own step's products before it lets BLAS use more than
one thread for any of them.

Example:
    >>> advice = kernel_advice({"internal_api": "openblas", "architecture": "Haswell",
    ...                         "version": "0.3.31"},
    ...                        CPU("AMD EPYC", 26, 2, frozenset(AVX512_FLAGS)), env={})
    >>> "OPENBLAS_CORETYPE=SkylakeX" in advice
    True
"""

from __future__ import annotations

import os
import platform
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CPU", "AVX512_FLAGS", "AVX512_KERNELS", "cpu", "numpy_blas", "describe",
           "kernel_advice", "caller_threads", "BlasThreads", "BlasLimit", "product_plan",
           "k_split", "scipy_blas_threads", "remembered_plan", "forget_plans"]

AVX512_FLAGS: tuple[str, ...] = ("avx512f", "avx512dq", "avx512cd", "avx512bw", "avx512vl")
"""The CPU flags OpenBLAS's SkylakeX kernels need."""

AVX512_KERNELS: tuple[str, ...] = ("SkylakeX", "Cooperlake", "SapphireRapids")
"""OpenBLAS's x86-64 kernel families that use AVX-512 (threadpoolctl's ``architecture``)."""


@dataclass(frozen=True)
class CPU:
    """The processor, as ``/proc/cpuinfo`` names it (Linux; elsewhere family and model are
    -1 and the flags empty)."""

    name: str
    family: int = -1
    model: int = -1
    flags: frozenset[str] = field(default_factory=frozenset)

    def __str__(self) -> str:
        fam = f" (family {self.family}, model {self.model})" if self.family >= 0 else ""
        return f"{self.name}{fam}"


def cpu(path: str = "/proc/cpuinfo") -> CPU:
    """The first processor's name, family, model and flags.

    Example:
        >>> isinstance(cpu().name, str)
        True
    """
    info: dict[str, str] = {}
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if not line.strip():
                    if info:
                        break
                    continue
                key, _, value = line.partition(":")
                info.setdefault(key.strip(), value.strip())
    except OSError:
        return CPU(platform.processor() or platform.machine() or "unknown CPU")

    def number(key: str) -> int:
        try:
            return int(info.get(key, "-1"))
        except ValueError:
            return -1

    return CPU(info.get("model name") or platform.machine() or "unknown CPU",
               number("cpu family"), number("model"), frozenset(info.get("flags", "").split()))


def numpy_blas() -> dict[str, Any] | None:
    """threadpoolctl's record of the BLAS NumPy calls (``internal_api``, ``version``,
    ``architecture``, ``num_threads``, ``filepath``), or None when it cannot be read.

    Example:
        >>> info = numpy_blas()
        >>> info is None or "internal_api" in info
        True
    """
    try:
        from threadpoolctl import threadpool_info
    except ImportError:  # pragma: no cover - threadpoolctl is a dependency
        return None
    blas = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    ours = [i for i in blas if "numpy" in str(i.get("filepath", ""))]
    return (ours or blas or [None])[0]


def describe() -> str:
    """One line: the CPU and NumPy's BLAS with its kernels and threads (for benchmarks and
    ``initlab --version``).

    Example:
        >>> "BLAS" in describe()
        True
    """
    info = numpy_blas()
    if info is None:
        blas = "BLAS unknown (threadpoolctl found none)"
    else:
        arch = info.get("architecture")
        forced = os.environ.get("OPENBLAS_CORETYPE")
        blas = (f"BLAS {info.get('internal_api')} {info.get('version')}"
                + (f", {arch} kernels" if arch else "")
                + (f" (OPENBLAS_CORETYPE={forced})" if forced else "")
                + f", {info.get('num_threads')} thread"
                + ("" if info.get("num_threads") == 1 else "s"))
    return f"CPU {cpu()}, {os.cpu_count()} logical; {blas}"


def kernel_advice(info: Mapping[str, Any] | None = None, proc: CPU | None = None,
                  env: Mapping[str, str] | None = None) -> str | None:
    """A sentence when NumPy's OpenBLAS runs kernels older than the CPU allows, else None.

    The case: OpenBLAS runs a kernel family without AVX-512 (``architecture`` not in
    :data:`AVX512_KERNELS`) on a CPU with every flag of :data:`AVX512_FLAGS`, whether it chose
    them or ``OPENBLAS_CORETYPE`` told it to. The fix is the user's to make, before Python
    starts, since it changes the whole process. Other kernels change rounding as another
    machine would; a run's numbers still depend on its config and seed alone in a given
    setting.

    Args:
        info: NumPy's BLAS record (:func:`numpy_blas` when None).
        proc: the CPU (:func:`cpu` when None).
        env: the environment (``os.environ`` when None).

    Example:
        >>> kernel_advice({"internal_api": "openblas", "architecture": "SkylakeX"},
        ...               CPU("x", 6, 85, frozenset(AVX512_FLAGS)), env={}) is None
        True
    """
    info = numpy_blas() if info is None else info
    proc = cpu() if proc is None else proc
    env = os.environ if env is None else env
    if not info or info.get("internal_api") != "openblas":
        return None
    arch = str(info.get("architecture") or "")
    if not arch or arch in AVX512_KERNELS or not set(AVX512_FLAGS) <= proc.flags:
        return None
    gain = ("(on an AMD EPYC of family 26, float32 matmul ran 1.8x faster with them and "
            "initlab's engine 1.4-1.6x; initlab never changes it: it holds for the whole process)")
    forced = env.get("OPENBLAS_CORETYPE")
    if forced:
        return (f"OPENBLAS_CORETYPE={forced} in the environment makes NumPy's OpenBLAS "
                f"{info.get('version', '')} run its {arch} kernels on {proc}, which has AVX-512: "
                f"unset it (or set it to SkylakeX) before Python starts for its AVX-512 kernels "
                f"{gain}")
    return (f"NumPy's OpenBLAS {info.get('version', '')} chose its {arch} kernels on {proc}, "
            "which has AVX-512: start Python with OPENBLAS_CORETYPE=SkylakeX set for its "
            f"AVX-512 kernels {gain}")


# ---- thread counts (both engines)

_LIB: Any = False


def numpy_blas_lib() -> Any:
    """The OpenBLAS library NumPy's matmul calls (a ctypes handle, loaded once), or None."""
    global _LIB
    if _LIB is not False:
        return _LIB
    _LIB = None
    try:
        import ctypes

        info = numpy_blas()
        if info and info.get("internal_api") == "openblas" and "numpy" in info["filepath"]:
            _LIB = ctypes.CDLL(info["filepath"])
    except Exception:  # noqa: BLE001 - no handle: callers fall back to threadpoolctl
        _LIB = None
    return _LIB


_CTL: Any = False


def openblas_threads() -> tuple[Any, Any] | None:
    """(get, set) for the thread count of NumPy's OpenBLAS (about a microsecond a call; looked
    up once), or None."""
    global _CTL
    if _CTL is False:
        _CTL = _find_openblas_threads()
    return _CTL


def _find_openblas_threads(lib: Any = None) -> tuple[Any, Any] | None:
    """OpenBLAS's (get, set) thread-count functions, found by name in ``lib`` (a ctypes
    handle; NumPy's OpenBLAS when None) or in the libraries it links."""
    lib = numpy_blas_lib() if lib is None else lib
    if lib is None:
        return None
    for get, put in (("scipy_openblas_get_num_threads64_", "scipy_openblas_set_num_threads64_"),
                     ("scipy_openblas_get_num_threads", "scipy_openblas_set_num_threads"),
                     ("openblas_get_num_threads64_", "openblas_set_num_threads64_"),
                     ("openblas_get_num_threads", "openblas_set_num_threads")):
        g, p = getattr(lib, get, None), getattr(lib, put, None)
        if g is not None and p is not None:
            import ctypes

            g.restype = ctypes.c_int
            p.restype = None
            p.argtypes = [ctypes.c_int]
            return g, p
    return None


_SCIPY_CTL: Any = False


def scipy_blas_threads() -> tuple[Any, Any] | None:
    """(get, set) for the thread count of the BLAS the compiled kernels call (SciPy's
    ``cython_blas`` and the OpenBLAS it links; looked up once), or None where that is not an
    OpenBLAS.

    Example:
        >>> ctl = scipy_blas_threads()
        >>> ctl is None or ctl[0]() >= 1
        True
    """
    global _SCIPY_CTL
    if _SCIPY_CTL is False:
        try:
            import ctypes

            import scipy.linalg.cython_blas as cython_blas

            _SCIPY_CTL = _find_openblas_threads(ctypes.CDLL(cython_blas.__file__))
        except Exception:  # noqa: BLE001 - no SciPy or no such library: nothing to raise
            _SCIPY_CTL = None
    return _SCIPY_CTL


def caller_threads() -> int:
    """NumPy's BLAS thread count as the caller left it (1 where it cannot be read).

    Example:
        >>> caller_threads() >= 1
        True
    """
    ctl = openblas_threads()
    if ctl is not None:
        return max(1, int(ctl[0]()))
    info = numpy_blas()  # pragma: no cover - NumPy without a reachable OpenBLAS
    return max(1, int(info.get("num_threads") or 1)) if info else 1  # pragma: no cover


class BlasThreads:
    """Sets NumPy's BLAS thread count for a ``with`` block and restores it after (None: no
    change). Uses OpenBLAS's own get/set when found (microseconds), threadpoolctl otherwise.

    Example:
        >>> with BlasThreads(1):
        ...     caller_threads()
        1
    """

    def __init__(self, threads: int | None) -> None:
        self.threads = threads
        self.ctl: Any = None
        self.limits: Any = None
        self.original = 0

    def __enter__(self) -> BlasThreads:
        if self.threads is None:
            return self
        self.ctl = openblas_threads()
        if self.ctl is not None:
            self.original = self.ctl[0]()
            if self.original != self.threads:
                self.ctl[1](self.threads)
        else:  # pragma: no cover - NumPy without a reachable OpenBLAS
            from threadpoolctl import threadpool_limits

            self.limits = threadpool_limits(self.threads, user_api="blas")
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.ctl is not None and self.ctl[0]() != self.original:
            self.ctl[1](self.original)
        if self.limits is not None:  # pragma: no cover
            self.limits.restore_original_limits()


class BlasLimit:
    """NumPy's BLAS and the SciPy one the compiled kernels call at ``threads`` for a ``with`` block,
    restored after (None: no change): through OpenBLAS's own get/set where both are found
    (microseconds), else every loaded BLAS through threadpoolctl (2 ms a block: it lists the
    process's libraries each time).

    Example:
        >>> with BlasLimit(1):
        ...     caller_threads()
        1
    """

    def __init__(self, threads: int | None) -> None:
        self.threads = threads
        self.limits: Any = None
        self.restore: list[tuple[Any, int]] = []

    def __enter__(self) -> BlasLimit:
        if self.threads is None:
            return self
        found = [openblas_threads(), scipy_blas_threads()]
        ctls = [c for c in found if c is not None]
        if len(ctls) == len(found):
            for get, put in {id(c[1]): c for c in ctls}.values():
                original = int(get())
                if original != self.threads:
                    put(self.threads)
                    self.restore.append((put, original))
        else:  # pragma: no cover - a BLAS other than OpenBLAS
            import scipy.linalg.cython_blas  # noqa: F401 - load the BLAS the compiled kernels call first
            from threadpoolctl import threadpool_limits

            self.limits = threadpool_limits(self.threads, user_api="blas")
        return self

    def __exit__(self, *exc: Any) -> None:
        for put, original in reversed(self.restore):
            put(original)
        self.restore = []
        if self.limits is not None:  # pragma: no cover
            self.limits.restore_original_limits()


K_UNROLL = 16
"""The multiple :func:`k_split` rounds to: the float32 GEMM kernels' M unroll of OpenBLAS's
AVX2 and AVX-512 x86 targets."""


def k_split(k: int) -> int | None:
    """Where to cut a product's sum of length ``k`` in two so that each part is one block of
    OpenBLAS's sum, or None for a sum too short to cut.

    OpenBLAS's GEMM driver sums over k in blocks of at most its ``GEMM_Q``, each block's sum
    added to the entry; a k a little over Q is cut in two near the middle, rounded to a
    multiple of the kernel's unroll, and the one-thread and the threaded drivers round that
    half differently, so for some k the two thread counts add the parts of each entry in
    another order (on a Zen 4 EPYC, SkylakeX kernels: k = 513, 600, 700, 769, 784, 785 differ
    in 64-81 % of the entries; 512, 640, 768, 800 and 1024 do not). The cut is
    ``ceil(floor(k / 2) / 16) * 16``: the product computed as two (each one block, so the same
    sum on any thread count), the second's result added to the first's, is the one-thread
    driver's arithmetic there, bit for bit, for each k above; for k = 900-1300 its sum has more
    blocks and no cut in two matches. Nothing here knows the kernel: fit keeps the split only
    where its probe step shows it gives the bits of one thread (:func:`product_plan`,
    ``others``).

    Example:
        >>> k_split(785), k_split(784), k_split(600), k_split(32)
        (400, 400, 304, None)
    """
    cut = -(-(k // 2) // K_UNROLL) * K_UNROLL
    return cut if 0 < cut < k and k >= 4 * K_UNROLL else None


def probe_weights(shapes: Sequence[tuple[int, int]], dtype: Any) -> list[tuple[Any, Any]]:
    """Per layer ``(W, b)``: ``W`` fixed random numbers of shape ``(fan_in, units)``, standard
    normal over sqrt(fan_in), and ``b`` zeros of shape ``(units,)``: the weights both engines'
    thread probes (:func:`product_plan`) run on instead of the model's own. A zero or constant
    ``W`` (x @ 0 = 0) gives every product the same bits on any thread count until the weights
    move, and the plan must hold for every later step; 1/sqrt(fan_in) keeps the logits finite.
    The biases are zero because the compiled path's probe reads each forward product's output
    with its bias added (z = x W + b): a large bias could round a product's last-bit
    difference away, and x + 0 is x exactly.

    Example:
        >>> [(w.shape, b.shape, float(abs(b).max())) for w, b in
        ...  probe_weights([(3, 2), (2, 1)], "float32")]
        [((3, 2), (2,), 0.0), ((2, 1), (1,), 0.0)]
    """
    import numpy as np

    noise = np.random.default_rng(0)
    return [((noise.standard_normal((f, u)) / np.sqrt(f)).astype(dtype), np.zeros(u, dtype))
            for f, u in shapes]


PLANS_MAX = 256
"""At most this many plans are remembered (:func:`remembered_plan`); the oldest go first."""

_PLANS: dict[Any, tuple[Any, ...]] = {}


def remembered_plan(key: Any, run: Callable[[Sequence[Any]], Sequence[Any]], products: int,
                    threads: int, limit: type | None = None,
                    others: Mapping[int, Sequence[Any]] | None = None) -> tuple[Any, ...]:
    """:func:`product_plan`, remembered for the rest of the process under ``key``.

    A plan is a function of the products' shapes, memory layouts and dtype, the thread
    count and the BLAS library (fixed once loaded), never of the values multiplied (the
    probe runs on fixed random operands): ``key`` must name everything that decides the
    products' shapes and layouts, and with ``products``, ``threads`` and ``others`` it
    decides the plan. So a process's later fits of the same shapes skip the probe steps
    (on the MNIST MLP at batch 128, 3 probe runs, about 10 ms of each fit).

    Example:
        >>> import numpy as np
        >>> runs = []
        >>> def step(plan):  # a probe step that counts its runs
        ...     runs.append(plan)
        ...     return [np.zeros(3)]
        >>> remembered_plan("doc", step, 1, 2), remembered_plan("doc", step, 1, 2), len(runs)
        ((2,), (2,), 2)
    """
    full_key = (key, products, threads,
                None if others is None else tuple(sorted((i, tuple(o))
                                                         for i, o in others.items())))
    plan = _PLANS.get(full_key)
    if plan is None:
        plan = product_plan(run, products, threads, limit or BlasThreads, others)
        while len(_PLANS) >= PLANS_MAX:
            del _PLANS[next(iter(_PLANS))]
        _PLANS[full_key] = plan
    return plan


def forget_plans() -> None:
    """Forget every remembered plan (:func:`remembered_plan`): the next fit probes again."""
    _PLANS.clear()


def product_plan(run: Callable[[Sequence[Any]], Sequence[Any]], products: int, threads: int,
                 limit: type = BlasThreads,
                 others: Mapping[int, Sequence[Any]] | None = None) -> tuple[Any, ...]:
    """Per product of a step, the BLAS thread count it may run on: ``threads`` where that
    gives the bits of one thread, else 1.

    ``run(plan)`` computes one training step on fixed inputs, product ``i`` on ``plan[i]``
    BLAS threads and everything else on the one thread it is called on, and returns the
    step's outputs (arrays). The reference is ``run`` with every product on one thread; a
    plan is kept only where its outputs have the same bytes. First every product on
    ``threads`` (one probe: the common case, where OpenBLAS splits each product's output
    among its threads and never the sum inside one element); where that differs and the
    caller gave ``others``, every product on ``threads`` but those, which take their first
    other (one more probe: the first layer split on a CPU like the one below); where that
    differs too, each product alone on ``threads``, then the products that passed, together.
    Fit calls this before its steps may use several BLAS threads, so the thread count never
    changes a result, while a product that keeps its bits still gets the threads: on the Zen 4 EPYC
    above, the first layer's forward product stays on one thread and its weight gradient
    runs on two. A kernel either takes the same path for a shape on both counts (the same
    bits for any data) or another (most entries differ), so one probe per shape decides.
    Nothing is timed: the answer depends on the BLAS library and the shapes alone.

    ``others`` names, for some products, further settings to try where ``threads`` alone
    gives other bits (in order, the first that gives the reference's bytes wins): the
    caller's own ways of computing that product on several threads, e.g. the compiled
    path's first-layer product split along its sum (:func:`k_split`).

    Args:
        run: the step, given a thread count per product; returns a sequence of arrays.
        products: how many products the step has.
        threads: the thread count to compare with one.
        others: product index -> further settings for it (anything but 1 and ``threads``).
        limit: the context manager that sets the thread count for the probe runs
            (:class:`BlasThreads` for NumPy's BLAS, :class:`BlasLimit` for every loaded
            BLAS).

    Returns:
        One setting per product: 1, ``threads`` or one of its ``others``.

    Example:
        >>> import numpy as np
        >>> a = np.arange(12.0).reshape(3, 4)
        >>> def step(plan):
        ...     with BlasThreads(plan[0]):
        ...         return [a @ a.T]
        >>> product_plan(step, 1, 2)
        (2,)
    """
    import numpy as np

    ones = (1,) * products
    if threads <= 1 or products == 0:
        return ones
    with limit(1):
        reference = [np.array(x, copy=True) for x in run(ones)]

        def same(plan: tuple[int, ...]) -> bool:
            out = list(run(plan))
            return all(a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()
                       for a, b in zip(reference, out, strict=True))

        every = (threads,) * products
        if same(every):
            return every
        extra = others or {}
        if extra:  # the common second case: the products with others on their first one
            first = tuple(extra[i][0] if extra.get(i) else threads for i in range(products))
            if same(first):
                return first

        def alone(i: int) -> Any:
            for option in (threads, *extra.get(i, ())):
                if same(ones[:i] + (option,) + ones[i + 1:]):
                    return option
            return 1

        plan = tuple(alone(i) for i in range(products))
        return plan if plan == ones or same(plan) else ones
