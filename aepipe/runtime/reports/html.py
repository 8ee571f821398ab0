"""``report.html``: one self-contained page a person reads after a run.

Run facts, histograms of the task's measures (threshold marked), a gallery (before/after
thumbnails of the most and least changed images, heatmaps of the most anomalous ones), every
failure with its message, and a sortable, filterable table of every row. Nothing is fetched
from a network: CSS and script are inline, images are data URIs.

Every string that comes from a key, a file or metadata is escaped: the static parts with
``html.escape``, and the table is built by the inline script from a JSON blob with
``textContent``, so a key such as ``<script>alert(1)</script>.png`` shows as text.
"""

from __future__ import annotations

import base64
import html
import json
import math
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

from aepipe.runtime.reports.collect import ReportCollector
from aepipe.runtime.reports.summary import RunSummary

#: Columns the table shows first; every other field follows in the rows' own order.
LEADING_COLUMNS = (
    "key",
    "status",
    "anomaly_score",
    "anomalous",
    "domain_score",
    "out_of_domain",
    "psnr",
    "bpp",
    "error",
    "width",
    "height",
)


@dataclass(frozen=True)
class Thumbnail:
    label: str
    png: bytes


@dataclass(frozen=True)
class GalleryItem:
    key: str
    caption: str
    thumbnails: Sequence[Thumbnail]


@dataclass(frozen=True)
class Gallery:
    title: str
    items: Sequence[GalleryItem]


def data_uri(image: bytes) -> str:
    """A PNG or an SVG document (the histograms) as an ``<img>`` source."""
    mime = "image/svg+xml" if image.startswith(b"<svg") else "image/png"
    return f"data:{mime};base64," + base64.b64encode(image).decode()


def write_page(
    out: BinaryIO,
    summary: RunSummary,
    collected: ReportCollector,
    plots: Mapping[str, bytes],
    galleries: Sequence[Gallery],
) -> None:
    """The whole page, UTF-8, streamed: the failures and the table's rows come from the
    collector's spools, so the page can hold millions of rows without their memory."""
    title = f"aepipe run {summary.get('run_id', '')}"
    head, tail = _PAGE.format(title=_e(title), style=_STYLE, script=_SCRIPT).split(_BODY)
    sections = [
        f"<h1>{_e(title)}</h1>",
        _facts(summary),
        _plots(plots),
        *(_gallery(g) for g in galleries if g.items),
    ]
    out.write((head + "\n".join(sections)).encode())
    _failures(out, collected)
    _table(out, collected)
    out.write(tail.encode())


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _facts(summary: RunSummary) -> str:
    params = summary.get("params", {})
    counts = summary.get("counts", {})
    facts: list[tuple[str, object]] = [
        ("task", params.get("task", "")),
        ("model", summary.get("model")),
        ("model sha256", summary.get("aepipe-model-sha256", "")),
        ("providers", ", ".join(summary.get("providers", []))),
        ("images", summary.get("images", 0)),
        ("counts", ", ".join(f"{k}: {v}" for k, v in counts.items())),
        ("throughput", _throughput(summary)),
        ("started", summary.get("started", "")),
        ("finished", summary.get("finished", "")),
        ("report", summary.get("report", "")),
        *(
            (f"shard {c['shard']}", f"{c['state']}, {c['images']} images, {c['report']}")
            for c in summary.get("children", [])
        ),
    ]
    cells = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in facts)
    options = "".join(
        f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in params.items() if v is not None
    )
    return (
        f'<section id="facts"><h2>Run</h2><table class="facts">{cells}</table>'
        f'<details><summary>parameters</summary><table class="facts">{options}</table>'
        "</details></section>"
    )


def _throughput(summary: RunSummary) -> str:
    seconds = summary.get("wall_seconds")
    done = summary.get("counts", {}).get("ok", 0)
    if not seconds:
        return "-"
    return f"{done / seconds:.2f} images/s ({done} images in {seconds:.1f} s)"


def _plots(plots: Mapping[str, bytes]) -> str:
    if not plots:
        return ""
    figures = "".join(
        f'<figure><img class="plot" alt="{_e(name)}" src="{data_uri(png)}">'
        f"<figcaption>{_e(name)}</figcaption></figure>"
        for name, png in plots.items()
    )
    return f'<section id="plots"><h2>Distributions</h2><div class="row">{figures}</div></section>'


def _gallery(gallery: Gallery) -> str:
    cards = []
    for item in gallery.items:
        images = "".join(
            f'<figure><img class="thumb" alt="{_e(t.label)}" src="{data_uri(t.png)}">'
            f"<figcaption>{_e(t.label)}</figcaption></figure>"
            for t in item.thumbnails
        )
        cards.append(
            f'<div class="card"><div class="key">{_e(item.key)}</div>'
            f'<div class="row">{images}</div><div class="caption">{_e(item.caption)}</div></div>'
        )
    return f'<section class="gallery"><h2>{_e(gallery.title)}</h2>{"".join(cards)}</section>'


def _failures(out: BinaryIO, collected: ReportCollector) -> None:
    """Every failure with its message (escaped as the collector spooled them)."""
    if not collected.failures:
        out.write(b'<section id="failures"><h2>Failures</h2><p>none</p></section>')
        return
    out.write(f'<section id="failures"><h2>Failures ({collected.failures})</h2><ul>'.encode())
    with collected.failures_path.open("rb") as items:
        shutil.copyfileobj(items, out)
    out.write(b"</ul></section>")


def _table(out: BinaryIO, collected: ReportCollector) -> None:
    """The rows as a JSON blob the inline script renders (sortable, filterable)."""
    shown = collected.shown
    columns = [c for c in LEADING_COLUMNS if c in shown] + [
        c for c in shown if c not in LEADING_COLUMNS
    ]
    out.write(
        f'<section id="rows"><h2>All {collected.totals.images} rows</h2>'
        '<input id="filter" type="search" placeholder="filter rows (any column)">'
        '<div class="scroll"><table id="table"><thead></thead><tbody></tbody></table></div>'
        '<script id="data" type="application/json">'.encode()
    )
    out.write(_blob({"columns": columns})[:-1] + b', "rows": [')
    for index, record in enumerate(collected.records()):
        cells = {k: _cell(v) for k, v in record.items() if v not in (None, "")}
        out.write((b"," if index else b"") + _blob(cells))
    out.write(b"]}</script></section>")


def _blob(value: object) -> bytes:
    """JSON with no markup character left: a key cannot close or open a script element."""
    text = json.dumps(value, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026").encode()


def _cell(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 5) if math.isfinite(value) else str(value)
    if isinstance(value, str | int | bool):
        return value
    return str(value)


_BODY = "\x00body\x00"  # where the streamed sections go
_PAGE = (
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title><style>{style}</style></head>
<body>"""
    + _BODY
    + """<script>{script}</script></body></html>
"""
)

_STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
table { border-collapse: collapse; } td, th { padding: 2px 8px; text-align: left; }
table.facts th { color: #555; font-weight: 600; }
#table th { cursor: pointer; background: #eee; position: sticky; top: 0; user-select: none; }
#table td { border-top: 1px solid #ddd; white-space: nowrap; }
#table td:first-child { font-family: monospace; }
.scroll { overflow-x: auto; max-width: 100%; }
#table th.asc::after { content: " ▲"; } #table th.desc::after { content: " ▼"; }
#filter { margin: 0.5em 0; padding: 4px; width: 24em; }
.row { display: flex; flex-wrap: wrap; gap: 12px; }
.card { border: 1px solid #ddd; padding: 8px; margin: 6px 0; display: inline-block; }
.card .key { font-family: monospace; font-size: 12px; overflow-wrap: anywhere; max-width: 40em; }
.caption { color: #555; font-size: 12px; }
figure { margin: 0; } figcaption { font-size: 12px; color: #555; text-align: center; }
img.thumb { max-width: 192px; max-height: 192px; image-rendering: auto; }
img.plot { max-width: 480px; }
tr.error td { background: #fde8e8; } tr.flagged td { background: #fff4d6; }
"""

_SCRIPT = """
(function () {
  const data = JSON.parse(document.getElementById("data").textContent);
  const head = document.querySelector("#table thead");
  const body = document.querySelector("#table tbody");
  const filter = document.getElementById("filter");
  const flagged = ["anomalous", "out_of_domain"];
  let rows = data.rows, sortColumn = null, ascending = true;
  const headRow = document.createElement("tr");
  data.columns.forEach(function (column) {
    const th = document.createElement("th");
    th.textContent = column;
    th.addEventListener("click", function () { sortBy(column, th); });
    headRow.appendChild(th);
  });
  head.appendChild(headRow);
  function compare(a, b) {
    const x = a[sortColumn], y = b[sortColumn];
    if (x === undefined) return 1;
    if (y === undefined) return -1;
    if (typeof x === "number" && typeof y === "number") return ascending ? x - y : y - x;
    return ascending ? String(x).localeCompare(String(y)) : String(y).localeCompare(String(x));
  }
  function sortBy(column, th) {
    ascending = sortColumn === column ? !ascending : true;
    sortColumn = column;
    head.querySelectorAll("th").forEach(function (h) { h.className = ""; });
    th.className = ascending ? "asc" : "desc";
    rows = rows.slice().sort(compare);
    render();
  }
  function render() {
    const needle = filter.value.toLowerCase();
    const fragment = document.createDocumentFragment();
    rows.forEach(function (row) {
      if (needle && !data.columns.some(function (c) {
        return row[c] !== undefined && String(row[c]).toLowerCase().includes(needle);
      })) return;
      const tr = document.createElement("tr");
      if (row.status === "error") tr.className = "error";
      else if (flagged.some(function (f) { return row[f] === true; })) tr.className = "flagged";
      data.columns.forEach(function (column) {
        const td = document.createElement("td");
        td.textContent = row[column] === undefined ? "" : String(row[column]);
        tr.appendChild(td);
      });
      fragment.appendChild(tr);
    });
    body.replaceChildren(fragment);
  }
  filter.addEventListener("input", render);
  render();
})();
"""
