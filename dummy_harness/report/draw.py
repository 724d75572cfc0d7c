"""Charts (views.Chart) -> matplotlib figures -> PNG bytes. Agg only: no display, no pyplot state."""
from __future__ import annotations

import io

from .views import Chart

WIDTH_IN, HEIGHT_IN, DPI = 6.2, 3.4, 100       # 620 px: two charts side by side on a wide screen
MARK_STYLE = {"percentile": dict(color="black", linestyle=":"), "bound": dict(color="tab:red", linestyle="--"),
              "result": dict(color="tab:green", linestyle="-.")}


def figure(chart: Chart):
    """The chart as a matplotlib Figure: one labelled artist per series and per mark, all in the legend."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    bars = [s for s in chart.series if s.kind == "barh"]
    height = max(HEIGHT_IN, 1.0 + 0.32 * max((len(s.y) for s in bars), default=0))
    fig = Figure(figsize=(WIDTH_IN, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for s in chart.series:
        if s.kind == "barh":
            positions = range(len(s.y))
            ax.barh(positions, s.x, label=s.label, color="tab:blue")
            ax.set_yticks(list(positions), labels=list(s.y), fontsize="small")
            ax.invert_yaxis()
            for pos, value in zip(positions, s.x):
                ax.annotate(f" {value:,.0f}" if value >= 1000 else f" {value:.4g}", (value, pos), va="center",
                            fontsize="small")
            if min(s.x) > 0 and max(s.x) / min(s.x) > 100:
                ax.set_xscale("log")
        elif s.kind == "steps":
            ax.step(s.x, s.y, where="post", label=s.label, marker="o" if len(s.x) <= 10 else None)
        else:
            ax.plot(s.x, s.y, label=s.label)
    for m in chart.marks:
        line = ax.axvline if m.axis == "x" else ax.axhline
        line(m.value, label=m.label, linewidth=1.2, **MARK_STYLE[m.kind])
    xs = [v for s in chart.series if s.kind != "barh" for v in s.x if v > 0] + \
         [m.value for m in chart.marks if m.axis == "x" and m.value > 0]
    if chart.name in ("latency", "ttft", "tpot") and xs and max(xs) / min(xs) > 100:
        ax.set_xscale("log")          # a tail or a bound far from the bulk: keep the bulk readable
    ax.set_title(chart.title)
    ax.set_xlabel(chart.xlabel)
    ax.set_ylabel(chart.ylabel)
    ax.grid(True, alpha=0.3)
    if not bars:
        ax.legend(fontsize="small", loc="best")
    return fig


def png(chart: Chart) -> bytes:
    buffer = io.BytesIO()
    figure(chart).savefig(buffer, format="png")
    return buffer.getvalue()
