"""write_report(): the runs under a folder -> one PNG per chart in `<page name>_png/` + the HTML page."""
from __future__ import annotations

import os
import time
from typing import Dict, List, Tuple

from . import draw, page
from .table import find_runs
from .views import Chart, RunView, comparison_charts, run_view

TITLE = "MLPerf dummy harness report"


def _slugs(views_of: List) -> List[str]:
    """A file-name prefix per run: benchmark-scenario-mode, numbered where two runs share it."""
    out, seen = [], {}
    for r in views_of:
        base = "-".join([r.benchmark, r.scenario.lower(), r.mode] +
                        ([r.compliance_test["test"]] if r.compliance_test else []))
        seen[base] = seen.get(base, 0) + 1
        out.append(base if seen[base] == 1 else f"{base}-{seen[base]}")
    return out


def _write(path: str, data: bytes) -> None:
    """Replaced atomically: a reader never sees half a page or image."""
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def write_report(root: str, html_path: str) -> str:
    root, html_path = os.path.abspath(root), os.path.abspath(html_path)
    runs = find_runs(root)
    if not runs:
        raise FileNotFoundError(f"no results.json under {root}")
    views: List[RunView] = [run_view(r, root, slug) for r, slug in zip(runs, _slugs(runs))]
    png_dir = os.path.splitext(html_path)[0] + "_png"
    os.makedirs(png_dir, exist_ok=True)

    def drawn(slug: str, chart: Chart) -> bytes:
        image = draw.png(chart)
        _write(os.path.join(png_dir, f"{slug}-{chart.name}.png" if slug else f"{chart.name}.png"), image)
        return image

    comparison: List[Tuple[Chart, bytes]] = [(c, drawn("", c)) for c in comparison_charts(runs)]
    images: Dict[Tuple[str, str], bytes] = {(v.slug, c.name): drawn(v.slug, c) for v in views for c in v.charts}
    text = page.render(TITLE, root, views, comparison, images, time.strftime("%Y-%m-%d %H:%M:%S"))
    _write(html_path, text.encode("utf-8"))          # the page says charset utf-8, whatever the locale
    return html_path
