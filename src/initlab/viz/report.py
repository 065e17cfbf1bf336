"""The self-contained HTML report of a run, rebuilt at any time from what the run left on disk.

A run directory has this layout (``initlab reproduce`` writes it; ``initlab report DIR``
reads it)::

    DIR/results.json      the run's record (see ReportData): title, explanation, config,
                          tables, figures (paths relative to DIR), findings, logs, provenance
    DIR/figures/*.png     the figures (PNG, inlined in the report), with *.svg beside them
    DIR/report.html       the report: one file, figures inlined as data: URIs, inline CSS,
                          no script, nothing fetched from the network

Every string that came from a user or a run (names, specs, findings, logs) is escaped
(Jinja2 autoescape); the page's Content-Security-Policy forbids any fetch besides data: images.

Example:
    >>> import tempfile
    >>> d = tempfile.mkdtemp()
    >>> data = ReportData(name="demo", title="Demo", explanation="Nothing to see.",
    ...                   tables=[Table("accuracy", ["scheme", "acc"], [["he_normal", 0.95]])])
    >>> write_report(d, data).name
    'report.html'
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from initlab.errors import ConfigError, StoreError

__all__ = [
    "FigureRef",
    "ReportData",
    "Table",
    "load_results",
    "save_results",
    "render_report",
    "write_report",
]

RESULTS_FILE = "results.json"
REPORT_FILE = "report.html"
FIGURES_DIR = "figures"
FORMAT = "initlab-results/1"

_MIME = {".png": "image/png", ".svg": "image/svg+xml"}


@dataclass(frozen=True)
class Table:
    """A table of the report: a title, column names, rows of cells, an optional note.

    Example:
        >>> Table("final accuracy", ["scheme", "test"], [["zeros", 0.5]]).columns
        ['scheme', 'test']
    """

    title: str
    columns: Sequence[str]
    rows: Sequence[Sequence[object]]
    note: str = ""

    def to_text(self, width: int = 100) -> str:
        """The table as terminal text no wider than ``width``: title, header, rows, note.

        Example:
            >>> print(Table("acc", ["scheme", "test"], [["zeros", 0.5]]).to_text())
            acc
            scheme  test
            ------  ----
            zeros   0.5
        """
        from initlab.viz.text import text_table

        body = text_table([str(c) for c in self.columns],
                          [[_cell(v) for v in r] for r in self.rows], width)
        lines = [self.title, body]
        if self.note:
            import textwrap

            lines.append(textwrap.fill(self.note, width))
        return "\n".join(lines)


@dataclass(frozen=True)
class FigureRef:
    """A figure of the report: its file relative to the run directory, and a caption.

    ``file`` may name the PNG, the SVG, or the stem without extension (PNG preferred).

    Example:
        >>> FigureRef("figures/curves", "Loss over epochs").caption
        'Loss over epochs'
    """

    file: str
    caption: str = ""


@dataclass
class ReportData:
    """Everything a report shows; saved as DIR/results.json.

    Attributes:
        name: the experiment's short name (e.g. ``"moons"``).
        title: the report's title.
        explanation: what the experiment shows, in plain words (blank lines split paragraphs).
        config: the configuration, as JSON-ready values.
        tables: the result tables.
        figures: the figures, paths relative to the run directory.
        findings: diagnostics findings: strings, or dicts with severity, layer, code, message.
        logs: titled blocks of text (e.g. Keras-like epoch logs), shown preformatted.
        provenance: versions, seeds, data checksums, machine, duration
            (:func:`initlab.viz.provenance.collect`).
    """

    name: str
    title: str
    explanation: str = ""
    config: Mapping[str, object] = field(default_factory=dict)
    tables: Sequence[Table] = ()
    figures: Sequence[FigureRef] = ()
    findings: Sequence[object] = ()
    logs: Mapping[str, str] = field(default_factory=dict)
    provenance: Mapping[str, object] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        """Return the JSON-ready dict saved as results.json."""
        d = asdict(self)
        d["tables"] = [asdict(t) if isinstance(t, Table) else dict(t) for t in self.tables]
        d["figures"] = [asdict(f) if isinstance(f, FigureRef) else dict(f) for f in self.figures]
        return {"format": FORMAT, **d}

    @classmethod
    def from_dict(cls, d: Mapping[str, object]) -> ReportData:
        """Build from a results.json dict; a malformed one is a StoreError naming the field.

        The record is treated as untrusted: every field's type is checked, down to each
        table's cells, before anything is rendered.
        """
        if not isinstance(d, Mapping):
            raise StoreError(f"results must be a JSON object; got {type(d).__name__}")
        for key in ("name", "title"):
            if not isinstance(d.get(key), str):
                raise StoreError(f"results field {key!r} must be a string; got {d.get(key)!r}")
        explanation = _field(d, "explanation", str, "")
        tables = [_table(i, t) for i, t in enumerate(_field(d, "tables", list, []))]
        figures = [_figure(i, f) for i, f in enumerate(_field(d, "figures", list, []))]
        findings = _field(d, "findings", list, [])
        for i, f in enumerate(findings):
            if not isinstance(f, str | Mapping):
                raise StoreError(f"results field 'findings'[{i}] must be a string or an "
                                 f"object; got {_short(f)}")
        logs = _field(d, "logs", Mapping, {})
        for k, v in logs.items():
            if not isinstance(v, str):
                raise StoreError(f"results field 'logs'[{k!r}] must be a string; got "
                                 f"{_short(v)}")
        return cls(
            name=str(d["name"]),
            title=str(d["title"]),
            explanation=explanation,
            config=dict(_field(d, "config", Mapping, {})),
            tables=tables,
            figures=figures,
            findings=list(findings),
            logs=dict(logs),
            provenance=dict(_field(d, "provenance", Mapping, {})),
        )


_TYPE_NAMES = {str: "a string", list: "a list", Mapping: "an object"}


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _field(d: Mapping[str, object], key: str, kind: type, default: object) -> object:
    value = d.get(key, default)
    if not isinstance(value, kind):
        raise StoreError(f"results field {key!r} must be {_TYPE_NAMES[kind]}; got "
                         f"{_short(value)}")
    return value


def _table(i: int, t: object) -> Table:
    where = f"results field 'tables'[{i}]"
    if not isinstance(t, Mapping):
        raise StoreError(f"{where} must be an object; got {_short(t)}")
    unknown_keys = set(t) - {"title", "columns", "rows", "note"}
    if unknown_keys:
        raise StoreError(f"{where} has unknown keys {sorted(map(str, unknown_keys))}; "
                         f"allowed: title, columns, rows, note")
    title, note = t.get("title"), t.get("note", "")
    columns, rows = t.get("columns", []), t.get("rows", [])
    if not isinstance(title, str) or not isinstance(note, str):
        raise StoreError(f"{where}: title and note must be strings")
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise StoreError(f"{where}: columns must be a list of strings; got {_short(columns)}")
    if not isinstance(rows, list) or not all(
            isinstance(r, list) and all(isinstance(v, str | int | float | bool) or v is None
                                        for v in r) for r in rows):
        raise StoreError(f"{where}: rows must be lists of numbers and strings; got "
                         f"{_short(rows)}")
    return Table(title, columns, rows, note)


def _figure(i: int, f: object) -> FigureRef:
    where = f"results field 'figures'[{i}]"
    if not isinstance(f, Mapping) or not isinstance(f.get("file"), str) or not isinstance(
            f.get("caption", ""), str) or set(f) - {"file", "caption"}:
        raise StoreError(f"{where} must be an object with a string 'file' and 'caption'; "
                         f"got {_short(f)}")
    return FigureRef(str(f["file"]), str(f.get("caption", "")))


def _json_default(obj: object) -> object:
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")


def _clean(obj: object) -> object:
    """Replace NaN and infinities (not valid JSON) by strings, recursively."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)
    if isinstance(obj, Mapping):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    return obj


def save_results(run_dir: str | Path, data: ReportData) -> Path:
    """Write DIR/results.json (atomically: a temporary file, then a rename).

    Example:
        >>> import tempfile
        >>> save_results(tempfile.mkdtemp(), ReportData("x", "X")).name
        'results.json'
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    raw = json.loads(json.dumps(data.to_dict(), default=_json_default))
    text = json.dumps(_clean(raw), indent=2, allow_nan=False)
    tmp = run_dir / f".{RESULTS_FILE}.tmp"
    tmp.write_text(text + "\n", encoding="utf-8")
    tmp.replace(run_dir / RESULTS_FILE)
    return run_dir / RESULTS_FILE


def load_results(run_dir: str | Path) -> ReportData:
    """Read DIR/results.json.

    Raises:
        StoreError: when the directory or the file is missing or not a valid record.

    Example:
        >>> import tempfile
        >>> d = tempfile.mkdtemp(); _ = save_results(d, ReportData("x", "X"))
        >>> load_results(d).title
        'X'
    """
    path = Path(run_dir) / RESULTS_FILE
    if not path.is_file():
        raise StoreError(
            f"no {RESULTS_FILE} in {str(run_dir)!r}: a run directory is made by "
            f"'initlab reproduce NAME --out DIR'"
        )
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise StoreError(f"{str(path)!r} is not valid JSON: {e}") from None
    except RecursionError:
        raise StoreError(f"{str(path)!r} is nested too deeply to be a results record") from None
    except OSError as e:
        raise StoreError(f"cannot read {str(path)!r}: {e.strerror or e}") from None
    try:
        return ReportData.from_dict(d)
    except StoreError as e:
        raise StoreError(f"{str(path)!r}: {e}") from None


def _resolve_figure(run_dir: Path, ref: str) -> tuple[Path | None, str]:
    """The file a figure entry names, and "" -- or None and why it is not inlined.

    Only a regular file (not a symlink) whose real path lies inside the run directory is
    inlined: a run directory is untrusted input, and a report must never carry a file from
    elsewhere on the machine.
    """
    p = Path(ref)
    if p.is_absolute() or ".." in p.parts:
        raise StoreError(f"figure path {ref!r} must be relative to the run directory, inside it")
    base = run_dir / p
    candidates = [base] if base.suffix.lower() in _MIME else []
    stem = base.with_suffix("") if base.suffix.lower() in _MIME else base
    candidates += [stem.with_name(stem.name + ".png"), stem.with_name(stem.name + ".svg")]
    found = next((c for c in candidates if c.is_file() or c.is_symlink()), None)
    if found is None:
        return None, "missing"
    return (found, "") if _safe(run_dir, found) else (None, "refused")


def _safe(run_dir: Path, path: Path) -> bool:
    """A regular file, no symlink on its way from the run directory, inside it once resolved."""
    root = run_dir.resolve()
    try:
        rel = path.relative_to(run_dir)
    except ValueError:
        return False
    cur = run_dir
    for part in rel.parts:
        cur = cur / part
        if cur.is_symlink():
            return False
    real = path.resolve()
    return real.is_file() and (real == root or root in real.parents)


def _data_uri(path: Path) -> str | None:
    """The file as a data: URI, or None when it cannot be read (shown as missing)."""
    mime = _MIME[path.suffix.lower()]
    try:
        data = path.read_bytes()
    except OSError:
        return None
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _cell(v: object) -> str:
    if isinstance(v, bool) or v is None:
        return "" if v is None else str(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            return str(v)
        return f"{v:.4g}" if abs(v) < 1e5 else f"{v:.3e}"
    return str(v)


def _config_rows(config: Mapping[str, object]) -> list[tuple[str, str]]:
    rows = []
    for k, v in config.items():
        if isinstance(v, str):
            text = v
        elif isinstance(v, list | tuple) and all(isinstance(x, str | int | float) for x in v):
            text = ", ".join(_cell(x) for x in v)
        elif isinstance(v, int | float):
            text = _cell(v)
        else:
            text = json.dumps(v, default=_json_default)
        rows.append((str(k), text))
    return rows


def _finding(f: object) -> dict[str, str]:
    if isinstance(f, Mapping):
        return {
            "severity": str(f.get("severity", "info")),
            "where": " ".join(str(f[k]) for k in ("model", "layer") if f.get(k) not in (None, "")),
            "code": str(f.get("code", "")),
            "message": str(f.get("message", f.get("text", ""))),
            "recommendation": str(f.get("recommendation", "")),
        }
    return {"severity": "info", "where": "", "code": "", "message": str(f),
            "recommendation": ""}


def render_report(data: ReportData, run_dir: str | Path) -> str:
    """Render the report's HTML (a string) for ``data``, inlining figures found under run_dir.

    Figures listed in ``data.figures`` come first, in order; any other PNG or SVG in
    DIR/figures follows, captioned by its file name. A listed figure that is missing is
    shown as a note, not silently dropped; so is one that is a symlink or resolves outside
    the run directory, which is never inlined.

    Args:
        data: what to show.
        run_dir: the run directory the figure paths are relative to.

    Returns:
        The HTML document.

    Example:
        >>> html = render_report(ReportData("x", "<b>X</b>"), ".")
        >>> "&lt;b&gt;X&lt;/b&gt;" in html
        True
    """
    import jinja2

    run_dir = Path(run_dir)
    figures, seen = [], set()
    for ref in data.figures:
        path, why = _resolve_figure(run_dir, ref.file)
        if path is not None:
            seen.add(path.with_suffix(""))
        elif why == "refused":
            seen.add((run_dir / ref.file).with_suffix(""))
        figures.append({
            "caption": ref.caption or Path(ref.file).stem,
            "src": _data_uri(path) if path else None,
            "file": ref.file,
            "why": why,
        })
    fig_dir = run_dir / FIGURES_DIR
    if fig_dir.is_dir() and not fig_dir.is_symlink():
        for path in sorted(fig_dir.iterdir()):
            stem = path.with_suffix("")
            if path.suffix.lower() not in _MIME or stem in seen:
                continue
            rel = str(path.relative_to(run_dir))
            best, why = _resolve_figure(run_dir, str(Path(rel).with_suffix("")))
            seen.add(stem)
            figures.append({"caption": path.stem, "src": _data_uri(best) if best else None,
                            "file": rel, "why": why})
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("initlab.viz", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["cell"] = _cell
    paragraphs = [p.strip() for p in data.explanation.split("\n\n") if p.strip()]
    prov = dict(data.provenance)
    return env.get_template("report.html.j2").render(
        data=data,
        paragraphs=paragraphs,
        config_rows=_config_rows(data.config),
        findings=[_finding(f) for f in data.findings],
        figures=figures,
        provenance_rows=_config_rows(prov),
    )


def write_report(run_dir: str | Path, data: ReportData | None = None) -> Path:
    """Write DIR/report.html; with ``data`` also save it as DIR/results.json first.

    Without ``data`` the report is rebuilt from DIR/results.json and DIR/figures (what
    ``initlab report DIR`` does).

    Args:
        run_dir: the run directory (created if needed).
        data: the record to show and save, or None to read DIR/results.json.

    Returns:
        The path of report.html.

    Raises:
        StoreError: without data, when DIR/results.json is missing or malformed; when
            report.html cannot be written.

    Example:
        >>> import tempfile
        >>> p = write_report(tempfile.mkdtemp(), ReportData("x", "X"))
        >>> p.read_text().startswith("<!DOCTYPE html>")
        True
    """
    run_dir = Path(run_dir)
    if data is None:
        data = load_results(run_dir)
    else:
        if not isinstance(data, ReportData):
            raise ConfigError(f"data must be a ReportData; got {type(data).__name__}")
        save_results(run_dir, data)
    html = render_report(data, run_dir)
    out = run_dir / REPORT_FILE
    tmp = run_dir / f".{REPORT_FILE}.tmp"
    try:
        tmp.write_text(html, encoding="utf-8")
        tmp.replace(out)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise StoreError(f"cannot write {str(out)!r}: {e.strerror or e}") from None
    return out
