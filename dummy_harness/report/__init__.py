"""Human views of results, one module per responsibility:

    table.py   the text table of one run or of a results tree; how a tree's runs are found
    views.py   what each chart shows, as data, from LoadGen's trace and detail log (no drawing)
    draw.py    charts -> matplotlib figures -> PNG (Agg)
    page.py    the self-contained HTML page (images embedded as data URIs)
    write.py   write_report(): runs -> PNGs beside the page + the page
    cli.py     `python -m dummy_harness.report <dir> [--html report.html]`

Importing the package stays light (no matplotlib): the harness and customize.py use the table only.
"""
from ..results import read_results  # noqa: F401 (customize.py reads results through here)
from .table import find_runs, format_table  # noqa: F401


def write_report(root: str, html_path: str) -> str:
    """The report of every run under `root` as `html_path`, its PNGs in `<name>_png/` beside it; the page's path."""
    from .write import write_report as write
    return write(root, html_path)
