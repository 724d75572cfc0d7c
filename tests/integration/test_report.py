"""The report a person looks at, from real runs (the console script, real LoadGen):

    dummy-harness --model=llama2-70b-99 --scenario=Server --count=16 --report=yes     # report.html in the run folder
    python -m dummy_harness.report <output_dir> --html report.html                     # every run, compared

Two runs in one results tree serve every test: a streamed LLM run with the trace on, and a run without it."""
import base64
import html as html_text
import io
import re
import shutil
import subprocess
import sys

import pytest

from conftest import detail_records, dummy_harness, only_run_dir, results_of, run_tree

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def tree(tmp_path_factory, dataset_dir):
    out = tmp_path_factory.mktemp("report") / "résultats du test"     # a space and an accent, as users name folders
    common = [f"--output_dir={out}", f"--dataset_dir={dataset_dir}"]
    llm = dummy_harness("--model=llama2-70b-99", "--scenario=Server", "--count=16", "--report=yes", *common,
                        cwd=out.parent)
    assert llm.returncode == 0, llm.output[-3000:]
    plain = dummy_harness("--backend=null", "--scenario=SingleStream", "--count=64", *common, cwd=out.parent)
    assert plain.returncode == 0, plain.output[-3000:]
    page = out.parent / "rapport d'essai é.html"          # any path the user types: a space, a quote, an accent
    tree_report = run_tree([sys.executable, "-m", "dummy_harness.report", str(out), "--html", str(page)], 240,
                           cwd=out.parent)
    assert tree_report.returncode == 0, (tree_report.stdout + tree_report.stderr)[-3000:]
    return {"out": out, "llm": llm, "plain": plain, "tree_report": tree_report, "page": page,
            "llm_dir": only_run_dir(out, "Server"), "plain_dir": only_run_dir(out, "SingleStream")}


def figures(html: str) -> dict:
    """chart name -> (series listed under it, PNG bytes embedded), in page order, per run section."""
    sections = {}
    for part in re.split(r"<h2", html)[1:]:
        heading = re.match(r' id="([^"]+)"|>([^<]+)', part)
        key = heading.group(1) or heading.group(2)
        sections[key] = {
            m.group(1): (html_text.unescape(m.group(3)).split("; "), base64.b64decode(m.group(2)))
            for m in re.finditer(r'<figure data-chart="([^"]+)"><img alt="[^"]*" src="data:image/png;base64,'
                                 r'([A-Za-z0-9+/=]+)">.*?<span class="series">([^<]*)</span>', part, re.S)}
    return sections


def png_shape(data: bytes):
    from matplotlib.image import imread
    return imread(io.BytesIO(data), format="png").shape


def test_report_yes_writes_the_run_report_and_says_where_in_one_line(tree):
    run_dir = tree["llm_dir"]
    lines = [line for line in tree["llm"].stdout.splitlines() if "report" in line.split(":")[0]]
    assert lines == [f"report: {run_dir / 'report.html'}"]
    assert "report:" not in tree["plain"].stdout                    # off by default: the console stays as it was
    assert results_of(run_dir)["loadgen_trace"]["enabled"] is True
    (section,) = figures((run_dir / "report.html").read_text(encoding="utf-8")).values()
    assert list(section) == ["latency", "throughput", "ttft", "tpot"]
    for name, (_, image) in section.items():
        png = run_dir / "report_png" / f"llama2-70b-99-server-performance-{name}.png"
        assert png.read_bytes() == image and len(png_shape(image)) == 3


def test_the_charts_show_loadgens_own_numbers_against_the_bounds(tree):
    records = detail_records(tree["llm_dir"])
    (section,) = figures((tree["llm_dir"] / "report.html").read_text(encoding="utf-8")).values()
    p99 = records["result_99.00_percentile_latency_ns"] / 1e6
    ttft99 = records["result_first_token_99.00_percentile_latency_ns"] / 1e6
    tpot99 = records["result_time_per_output_token_99.00_percentile_ns"] / 1e6
    samples = results_of(tree["llm_dir"])["sut"]["samples"]
    assert section["latency"][0] == [f"latency, LoadGen trace ({samples} samples)", f"p99 = {p99:.3g} ms"]
    assert section["throughput"][0][:2] == ["completed samples/s", "scheduled samples/s"]
    assert section["ttft"][0] == [f"time to first token, LoadGen trace ({samples} samples)",
                                  f"p99 = {ttft99:.3g} ms", "TTFT bound 2,000 ms"]
    assert section["tpot"][0] == ["time per output token, LoadGen's percentiles (detail log)",
                                  f"p99 = {tpot99:.3g} ms", "TPOT bound 200 ms"]


def test_the_page_is_self_contained(tree):
    html = tree["page"].read_text(encoding="utf-8")
    assert re.findall(r'(?:src|href)="(?!data:image/png;base64,)', html) == []
    assert "<script" not in html and "<link" not in html and "url(" not in html
    images = [image for section in figures(html).values() for _, image in section.values()]
    # Two comparisons (samples/s, ms), four charts of the LLM run, the latency of the run without trace.
    assert len(images) == len(list((tree["page"].parent / "rapport d'essai é_png").glob("*.png"))) == 7
    assert all(len(png_shape(image)) == 3 for image in images)


def test_a_tree_report_compares_the_runs_and_says_where_the_trace_was_off(tree):
    out = tree["tree_report"].stdout
    assert re.search(r"^llama2-70b-99\s+Server\s+performance", out, re.M)
    assert re.search(r"^resnet50\s+SingleStream\s+performance", out, re.M)
    assert out.rstrip().endswith(f"report: {tree['page']}")
    html = tree["page"].read_text(encoding="utf-8")
    sections = figures(html)
    across = sections["Across runs"]
    assert across["comparison-throughput"][0] == ["throughput (samples/s)"]
    assert across["comparison-latency"][0] == ["latency (ms)"]
    assert html.count("LoadGen&#x27;s trace was off for this run (run it with --report=yes") == 1
    plain = next(v for k, v in sections.items() if k.startswith("resnet50-singlestream"))
    assert list(plain) == ["latency"]                               # no trace: no completions over time
    assert plain["latency"][0][0] == "latency, LoadGen's percentiles (detail log)"


@pytest.mark.skipif(CHROMIUM is None, reason="no headless Chromium here (apt-get install chromium): the page is "
                                              "checked as HTML only")
def test_a_headless_chromium_renders_the_page(tree, tmp_path):
    from matplotlib.image import imread

    shot = tmp_path / "page.png"
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--screenshot={shot}", "--window-size=1300,1400", tree["page"].as_uri()],
                   capture_output=True, timeout=120, check=True)
    image = imread(str(shot))
    assert image.shape[:2] == (1400, 1300)
    # Charts drawn: many pixels neither white nor text-grey (the blue of the series).
    blue = (image[..., 2] > 0.6) & (image[..., 0] < 0.3)
    assert blue.mean() > 0.005
