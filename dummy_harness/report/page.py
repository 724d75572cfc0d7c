"""The report as one self-contained HTML page: inline CSS, images as base64 data URIs, no link or script, so it
reads the same offline, mailed, or opened from an archive."""
from __future__ import annotations

import base64
import html
from typing import Dict, List, Tuple

from .table import HEADER, row
from .views import Chart, RunView

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1500px; color: #222; padding: 0 1em; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 1.8em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; font-size: 0.9em; }
th, td { border: 1px solid #ddd; padding: 0.2em 0.6em; text-align: left; }
th { background: #f3f3f3; }
.VALID, .PASS { color: #176617; font-weight: bold; } .INVALID, .FAIL, .FAILED { color: #a11; font-weight: bold; }
.note { background: #fff6d8; padding: 0.3em 0.6em; margin: 0.3em 0; }
.where { color: #666; font-size: 0.85em; font-family: monospace; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(480px, 1fr)); gap: 1em; max-width: 1300px; }
figure { margin: 0; } figure img { width: 100%; max-width: 620px; border: 1px solid #eee; }
figcaption { font-size: 0.8em; color: #444; }
"""


def _e(text) -> str:
    return html.escape(str(text), quote=True)


def _figure(chart: Chart, image: bytes) -> str:
    data = base64.b64encode(image).decode("ascii")
    series = "; ".join(chart.labels)
    return (f'<figure data-chart="{_e(chart.name)}"><img alt="{_e(chart.title)}: {_e(series)}" '
            f'src="data:image/png;base64,{data}"><figcaption>{_e(chart.caption)}.<br>'
            f'<b>series:</b> <span class="series">{_e(series)}</span></figcaption></figure>')


def _table(views: List[RunView]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in HEADER + ("run folder",))
    rows = []
    for v in views:
        cells = row(v.results)
        verdict = cells[5]
        tds = "".join(f'<td class="{_e(verdict)}">{_e(c)}</td>' if i == 5 else f"<td>{_e(c)}</td>"
                      for i, c in enumerate(cells))
        rows.append(f'<tr>{tds}<td class="where">{_e(v.where)}</td></tr>')
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def render(title: str, root: str, views: List[RunView], comparison: List[Tuple[Chart, bytes]],
           images: Dict[Tuple[str, str], bytes], generated: str) -> str:
    """The page: the table of runs, the comparison across runs, then each run's notes and charts.
    `images`: (run slug, chart name) -> PNG bytes."""
    parts = [f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{_e(title)}</title>",
             f"<style>{STYLE}</style></head><body>",
             f"<h1>{_e(title)}</h1>",
             f'<p class="where">{_e(root)} &middot; {_e(generated)}</p>',
             _table(views)]
    if comparison:
        parts.append("<h2>Across runs</h2><div class=\"charts\">")
        parts += [_figure(chart, image) for chart, image in comparison]
        parts.append("</div>")
    for v in views:
        r = v.results
        parts.append(f'<h2 id="{_e(v.slug)}">{_e(v.heading)}</h2>')
        parts.append(f'<p class="where">{_e(r.sut_name)} &middot; {_e(v.where or ".")}</p>')
        parts += [f'<p class="note">{_e(n)}</p>' for n in v.notes]
        if v.charts:
            parts.append('<div class="charts">')
            parts += [_figure(c, images[(v.slug, c.name)]) for c in v.charts]
            parts.append("</div>")
        elif r.mode != "performance":
            parts.append("<p>An accuracy run: its verdict is in the table; the charts are of performance runs.</p>")
    parts.append("</body></html>\n")
    return "\n".join(parts)
