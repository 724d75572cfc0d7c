"""results.json keeps its keys, their order and their value types: the fixtures under data/results/ are files
the harness wrote before results became a typed object (a performance, accuracy, Server, LLM and aborted run)."""
import json
from pathlib import Path

import pytest

from conftest import dummy_harness

from dummy_harness.report import format_table
from dummy_harness.results import Results, read_results

STORED = Path(__file__).parent / "data" / "results"
KINDS = ("performance", "accuracy", "server", "llm", "aborted")
# Sections the results type owns (the others belong to the config, the backend, the dataset or LoadGen).
TYPED = ("result", "accuracy", "memory_mb", "threads", "timing_s", "sut", "environment", "token_latency_bounds_ms")
# Values LoadGen's verdict decides (null when VALID, a reason when not).
EITHER = {"invalid_reason": {"str", "null"}, "early_stopping_met": {"bool", "null"}}


def stored(kind: str) -> dict:
    return json.loads((STORED / f"{kind}.json").read_text())


def type_name(value) -> str:
    return {bool: "bool", int: "int", float: "float", str: "str", list: "list", dict: "dict",
            type(None): "null"}[type(value)]


def shape(doc: dict) -> dict:
    """Each key -> its value's type, one level down for the typed sections."""
    return {k: ({kk: type_name(vv) for kk, vv in v.items()} if k in TYPED and isinstance(v, dict) else type_name(v))
            for k, v in doc.items()}


@pytest.mark.parametrize("kind", KINDS)
def test_a_stored_results_file_is_written_back_byte_for_byte(kind, tmp_path):
    doc = stored(kind)
    results = Results.from_json(doc)
    assert list(results.to_json()) == list(doc)
    results.run_dir = str(tmp_path)
    (tmp_path / "expected.json").write_text(json.dumps({**doc, "run_dir": str(tmp_path)}, indent=2) + "\n")
    assert Path(results.write()).read_text() == (tmp_path / "expected.json").read_text()


def test_sections_read_back_as_types():
    perf, acc, llm = (Results.from_json(stored(k)) for k in ("performance", "accuracy", "llm"))
    assert perf.result.unit == "samples/s" and perf.result.value > 0 and perf.sut.qsl_total > 0
    assert perf.validity == "VALID" and perf.invalid_reason is None and perf.precision_ran == "float32"
    assert acc.accuracy.passed and acc.result is None and acc.validity == "PASS"
    assert llm.result.extras["completed_tokens_per_second"] > 0 and llm.sut.generated_tokens > 0
    assert set(llm.token_latency_ms) == {"ttft", "tpot"}


def test_a_running_or_aborted_file_leaves_out_what_was_not_reached():
    aborted = Results.from_json(stored("aborted"))
    assert aborted.status == "failed" and aborted.failure.startswith("watchdog") and aborted.sut is None
    assert "host_cpu_stolen_s" not in aborted.to_json() and "validity" not in aborted.to_json()
    assert "status: failed: watchdog" in format_table(aborted)


def test_an_unreadable_results_file_reads_as_none(tmp_path):
    assert read_results(str(tmp_path)) is None
    (tmp_path / "results.json").write_text('{"status": "ok"}')     # not a run's results
    assert read_results(str(tmp_path)) is None


@pytest.mark.parametrize("kind,args,code", [
    ("performance", ["--count=16"], 0),
    ("aborted", ["--scenario=SingleStream", "--watchdog_s=2", "--threads=1"], 5),   # no thread choice: it predicts
])
def test_a_run_writes_the_keys_and_types_of_today(kind, args, code, tmp_path, dataset_dir):
    """A real run (the console script, real LoadGen) writes the same keys, in the same order, as the stored
    file of its kind; the aborted one is a backend that hangs on its second batch."""
    extra = []
    if kind == "aborted":
        vendor = tmp_path / "vendor"
        vendor.mkdir()
        (vendor / "dummy_harness_backend.py").write_text(HANGING)
        extra = [f"--implementation_repo={vendor}"]
    p = dummy_harness(*args, *extra, f"--output_dir={tmp_path / 'out'}", f"--dataset_dir={dataset_dir}", cwd=tmp_path)
    assert p.returncode == code, p.stderr[-2000:]
    written = json.loads(next((tmp_path / "out").glob("*/*/*/performance/run_1/results.json")).read_text())
    want, got = shape(stored(kind)), shape(written)
    assert list(got) == list(want)
    for key, type_of in want.items():
        assert got[key] == type_of or got[key] in EITHER.get(key, ()), key


HANGING = """
import time

from dummy_harness.backends.pytorch import PyTorchBackend


class Backend(PyTorchBackend):
    name = "hangs-on-batch-2"
    calls = 0
    loaded = False

    def load(self, *args):
        super().load(*args)
        self.loaded = True

    def predict(self, inputs):
        self.calls += self.loaded
        if self.calls == 2:
            time.sleep(3600)
        return super().predict(inputs)
"""
