"""The open-division submission tree, written from the harness's results tree, in the layout of its round.

    <submission>/<division>/<submitter>/                      layout v5.0 (rounds v5.0, v5.1)
      systems/<sut>.json
      code/<model>/<impl>/README.md
      measurements/<sut>/<model>/<Scenario>/{README.md, user.conf, <sut>_<impl>_<Scenario>.json}
      results/<sut>/<model>/<Scenario>/performance/run_1/{mlperf_log_summary.txt, mlperf_log_detail.txt}
      results/<sut>/<model>/<Scenario>/accuracy/{mlperf_log_summary.txt, mlperf_log_detail.txt, accuracy.txt,
                                                 mlperf_log_accuracy.json}
      compliance/<sut>/<model>/<Scenario>/TEST0x/...   (written by the official verification scripts)

    <submission>/<division>/<submitter>/                      layout v6.0 (rounds v6.0, v6.1)
      systems/<sut>.json
      src/<model>/README.md
      results/<sut>/<model>/<Scenario>/{README.md, user.conf, measurements.json, performance/run_1/, accuracy/,
                                        TEST0x/}

The checker compares file lists exactly, so only these files are copied (no user.conf or console.out in a run
folder, no hidden names). Accuracy logs are hashed and truncated as tools/submission/truncate_accuracy_log.py
does; the full logs stay in the harness's results tree.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import shutil
from typing import Any, Dict, List, Mapping, Optional

from ..config import RunConfig

IMPLEMENTATION = "dummy_harness"
PERFORMANCE_FILES = ("mlperf_log_summary.txt", "mlperf_log_detail.txt")
ACCURACY_FILES = ("mlperf_log_summary.txt", "mlperf_log_detail.txt", "accuracy.txt", "mlperf_log_accuracy.json")
# truncate_accuracy_log.py: logs of this size or more keep their first and last 4 KiB.
VIEWABLE_SIZE = 4096
MAX_ACCURACY_LOG_SIZE = 10 * 1024
PRECISION_NAMES = {"float32": "fp32", "float16": "fp16", "bfloat16": "bf16", "uint8": "int8"}


class TreeError(RuntimeError):
    """The tree cannot be written; str() is one line."""


class Layout:
    """Paths of one benchmark and scenario inside <submission>/<division>/<submitter>/, in the layout of the
    round (rounds.Round.layout: "v5.0" or "v6.0")."""

    def __init__(self, cfg: RunConfig, layout: str):
        self.cfg = cfg
        self.layout = layout
        self.root = os.path.join(cfg.submission_dir, cfg.division, cfg.submitter)
        self.sut = cfg.sut_name
        self.model = cfg.model
        self.scenario = cfg.scenario

    def part(self, kind: str) -> str:
        return os.path.join(self.root, kind, self.sut, self.model, self.scenario)

    @property
    def legacy(self) -> bool:
        return self.layout == "v5.0"

    @property
    def results(self) -> str:
        return self.part("results")

    @property
    def measurements(self) -> str:
        return self.part("measurements") if self.legacy else self.results

    @property
    def measurements_file(self) -> str:
        name = f"{self.sut}_{IMPLEMENTATION}_{self.scenario}.json" if self.legacy else "measurements.json"
        return os.path.join(self.measurements, name)

    @property
    def compliance(self) -> str:
        """The folder the verification scripts write TEST0x/ into."""
        return self.part("compliance") if self.legacy else self.results

    @property
    def system_file(self) -> str:
        return os.path.join(self.root, "systems", f"{self.sut}.json")

    @property
    def code(self) -> str:
        if self.legacy:
            return os.path.join(self.root, "code", self.model, IMPLEMENTATION)
        return os.path.join(self.root, "src", self.model)


def keep_aside(layout: Layout, base_dir: str) -> List[str]:
    """Move what an earlier submission left for this benchmark and scenario to
    <output_dir>/previous_runs/<time>/submission/... (never inside the submission: the checker reads all of it)."""
    moved = []
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    for folder in dict.fromkeys((layout.results, layout.measurements, layout.compliance)):
        if not os.path.exists(folder):
            continue
        rel = os.path.relpath(folder, layout.cfg.submission_dir)
        target = os.path.join(base_dir, "previous_runs", stamp, "submission", rel)
        n = 0
        while os.path.exists(target):
            n += 1
            target = os.path.join(base_dir, "previous_runs", f"{stamp}-{n}", "submission", rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.move(folder, target)
        moved.append(target)
    return moved


def sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def hash_and_truncate(folder: str) -> Dict[str, Any]:
    """What truncate_accuracy_log.py does to one accuracy folder: append `hash=<sha256 of the full
    mlperf_log_accuracy.json>` to accuracy.txt, then keep the log's first and last 4 KiB."""
    log = os.path.join(folder, "mlperf_log_accuracy.json")
    full_size = os.path.getsize(log)
    digest = sha256(log)
    with open(os.path.join(folder, "accuracy.txt"), "a", encoding="utf-8") as f:
        f.write(f"\nhash={digest}\n")
    if full_size >= VIEWABLE_SIZE:
        with open(log, "rb") as f:
            head = f.read(VIEWABLE_SIZE)
            f.seek(full_size - VIEWABLE_SIZE)
            tail = f.read(VIEWABLE_SIZE)
        with open(log, "wb") as f:
            f.write(head + b"\n\n...\n\n" + tail)
    return {"sha256": digest, "full_bytes": full_size, "kept_bytes": os.path.getsize(log)}


def _copy(src_dir: str, names, dst_dir: str) -> None:
    os.makedirs(dst_dir, exist_ok=True)
    for name in names:
        src = os.path.join(src_dir, name)
        if not os.path.isfile(src):
            raise TreeError(f"{src} is missing: the run did not finish")
        shutil.copyfile(src, os.path.join(dst_dir, name))


def write_results(layout: Layout, performance_dir: str, accuracy_dir: str) -> Dict[str, Any]:
    _copy(performance_dir, PERFORMANCE_FILES, os.path.join(layout.results, "performance", "run_1"))
    accuracy = os.path.join(layout.results, "accuracy")
    _copy(accuracy_dir, ACCURACY_FILES, accuracy)
    return hash_and_truncate(accuracy)


def write_system(layout: Layout, description: Mapping[str, Any], base_dir: str) -> Optional[str]:
    """Write systems/<sut>.json; a different one already there goes to previous_runs (returned)."""
    text = json.dumps(description, indent=2) + "\n"
    kept = None
    if os.path.isfile(layout.system_file):
        with open(layout.system_file) as f:
            if f.read() == text:
                return None
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        kept = os.path.join(base_dir, "previous_runs", stamp, "submission",
                            os.path.relpath(layout.system_file, layout.cfg.submission_dir))
        os.makedirs(os.path.dirname(kept), exist_ok=True)
        shutil.move(layout.system_file, kept)
    os.makedirs(os.path.dirname(layout.system_file), exist_ok=True)
    with open(layout.system_file, "w") as f:
        f.write(text)
    return kept


def measurements_json(cfg: RunConfig, precision_ran: str) -> Dict[str, str]:
    ran = PRECISION_NAMES.get(precision_ran, precision_ran)
    transformations = {"fp32": "none", "fp16": "cast to half precision at load time",
                       "bf16": "cast to bfloat16 at load time",
                       "int8": "post-training int8 quantization at load time"}.get(ran, f"converted to {ran}")
    return {
        "input_data_types": cfg.spec.sample_dtype,
        "retraining": "no",
        "starting_weights_filename": f"none: seeded random weights of the {cfg.model} stand-in "
                                     f"({cfg.size} size, dummy_harness/models/)",
        "weight_data_types": ran,
        "weight_transformations": transformations,
    }


def write_measurements(layout: Layout, performance_dir: str, precision_ran: str, command: str) -> None:
    cfg = layout.cfg
    folder = layout.measurements
    os.makedirs(folder, exist_ok=True)
    shutil.copyfile(os.path.join(performance_dir, "user.conf"), os.path.join(folder, "user.conf"))
    with open(layout.measurements_file, "w") as f:
        json.dump(measurements_json(cfg, precision_ran), f, indent=2)
        f.write("\n")
    with open(os.path.join(folder, "README.md"), "w") as f:
        f.write(f"# {cfg.model} {cfg.scenario} on {layout.sut}\n\n"
                "Made by the MLPerf Inference dummy harness (CM script `reproduce-mlperf-inference-dummy`):\n\n"
                f"```bash\n{command}\n```\n\n"
                "`user.conf` is what LoadGen read on top of its embedded mlperf.conf in the performance run.\n")


def write_code_readme(layout: Layout) -> None:
    os.makedirs(layout.code, exist_ok=True)
    with open(os.path.join(layout.code, "README.md"), "w") as f:
        f.write(f"# {layout.model}: dummy_harness\n\n"
                "The MLPerf Inference dummy harness: MLPerf LoadGen drives a seeded PyTorch stand-in with the "
                "benchmark's input/output contract. Install the `mlperf-dummy-harness` package and run\n\n"
                f"```bash\ndummy-harness --model={layout.model} --scenario={layout.scenario} "
                "--submission_dir=SUBMISSION --submitter=ORG\n```\n\n"
                "or through CM: `cmr \"reproduce mlperf inference dummy "
                f"_{layout.model}\" --quiet --scenario={layout.scenario} --submission_dir=SUBMISSION "
                "--submitter=ORG`.\n")


def truncate_compliance(layout: Layout, test: str) -> Optional[Dict[str, Any]]:
    """TEST01 copies a sampled accuracy log into the tree: it is hashed and truncated like the results'."""
    folder = os.path.join(layout.compliance, test, "accuracy")
    if test != "TEST01" or not os.path.isfile(os.path.join(folder, "mlperf_log_accuracy.json")):
        return None
    return hash_and_truncate(folder)


def empty_folders(root: str) -> List[str]:
    return [path for path, dirs, files in os.walk(root) if not dirs and not files]
