"""The system description (systems/<sut>.json) of a submission, read off this machine.

The checker (v5.0) requires 35 fields and 26 of them non-empty; numbers are strings (an integer 0 counts as
empty). What the OS does not report is written as such, never guessed; a user file (--system_json) overrides
any field.
"""
from __future__ import annotations

import json
import os
import platform
import shutil
import sys
from typing import Any, Dict, Mapping, Optional

# Every field checker v5.0 requires, in its order.
REQUIRED_FIELDS = (
    "division", "submitter", "status", "system_name", "number_of_nodes", "host_processor_model_name",
    "host_processors_per_node", "host_processor_core_count", "host_memory_capacity", "host_storage_capacity",
    "host_storage_type", "accelerators_per_node", "accelerator_model_name", "accelerator_memory_capacity",
    "framework", "operating_system", "system_type", "other_software_stack", "host_processor_frequency",
    "host_processor_caches", "host_memory_configuration", "host_processor_interconnect", "host_networking",
    "host_networking_topology", "accelerator_frequency", "accelerator_host_interconnect", "accelerator_interconnect",
    "accelerator_interconnect_topology", "accelerator_memory_configuration", "accelerator_on-chip_memories",
    "cooling", "hw_notes", "sw_notes", "host_network_card_count", "system_type_detail",
)
NOT_REPORTED = "not reported by the OS"
# One SUT that runs all eight benchmarks must be both: v5.0's datacenter list has no bert, its edge list no llama2.
SYSTEM_TYPE = "datacenter,edge"


def _cpuinfo() -> Dict[str, Any]:
    info: Dict[str, Any] = {"model name": platform.processor() or platform.machine(), "physical ids": set()}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, sep, value = line.partition(":")
                if not sep:
                    continue
                key, value = key.strip(), value.strip()
                if key == "physical id":
                    info["physical ids"].add(value)
                elif key in ("model name", "cpu MHz", "cache size") and key not in info.get("seen", ()):
                    info[key] = value
                    info.setdefault("seen", set()).add(key)
    except OSError:
        pass
    return info


def _memory_gb() -> Optional[float]:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / 1024 ** 2
    except (OSError, ValueError, IndexError):
        pass
    return None


def _storage_type(path: str) -> str:
    """SSD or HDD from the block device holding `path` (/sys/block/<dev>/queue/rotational)."""
    try:
        dev = os.stat(path).st_dev
        sys_dev = os.path.realpath(f"/sys/dev/block/{os.major(dev)}:{os.minor(dev)}")
        for folder in (sys_dev, os.path.dirname(sys_dev)):
            flag = os.path.join(folder, "queue", "rotational")
            if os.path.isfile(flag):
                with open(flag) as f:
                    kind = "HDD" if f.read().strip() == "1" else "SSD"
                return f"{kind} ({os.path.basename(folder)})"
    except OSError:
        pass
    return NOT_REPORTED


def _os_name() -> str:
    pretty = None
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    pretty = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return f"{pretty or platform.system()} (kernel {platform.release()})"


def _versions() -> Dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": sys.version.split()[0]}
    for name in ("torch", "numpy", "mlcommons-loadgen", "mlperf-dummy-harness"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def _accelerator(device: str) -> Dict[str, str]:
    if device != "gpu":
        return {"accelerators_per_node": "0", "accelerator_model_name": "N/A", "accelerator_memory_capacity": "N/A",
                "accelerator_host_interconnect": "N/A", "accelerator_interconnect": "N/A",
                "accelerator_memory_configuration": "N/A", "accelerator_frequency": "N/A",
                "accelerator_interconnect_topology": "N/A", "accelerator_on-chip_memories": "N/A"}
    import torch

    props = torch.cuda.get_device_properties(0)
    return {"accelerators_per_node": str(torch.cuda.device_count()), "accelerator_model_name": props.name,
            "accelerator_memory_capacity": f"{props.total_memory / 1024 ** 3:.0f} GB",
            "accelerator_host_interconnect": "PCIe", "accelerator_interconnect": "N/A",
            "accelerator_memory_configuration": NOT_REPORTED, "accelerator_frequency": NOT_REPORTED,
            "accelerator_interconnect_topology": "N/A",
            "accelerator_on-chip_memories": f"{getattr(props, 'L2_cache_size', 0) // 1024 ** 2} MB L2"}


def describe(division: str, submitter: str, system_name: str, device: str, storage_path: str,
             overrides: Optional[Mapping[str, Any]] = None) -> Dict[str, str]:
    """systems/<sut>.json for this machine; `overrides` (a user's file) win field by field."""
    cpu = _cpuinfo()
    memory = _memory_gb()
    versions = _versions()
    cores = os.cpu_count() or 1
    sockets = len(cpu["physical ids"]) or 1
    desc: Dict[str, Any] = {
        "division": division,
        "submitter": submitter,
        "status": "rdi",
        "system_name": system_name,
        "number_of_nodes": "1",
        "host_processor_model_name": cpu.get("model name") or NOT_REPORTED,
        "host_processors_per_node": str(sockets),
        "host_processor_core_count": str(cores),
        "host_processor_frequency": f"{float(cpu['cpu MHz']):.0f} MHz" if cpu.get("cpu MHz") else NOT_REPORTED,
        "host_processor_caches": cpu.get("cache size") or NOT_REPORTED,
        "host_processor_interconnect": "N/A",
        "host_memory_capacity": f"{memory:.1f} GB" if memory else NOT_REPORTED,
        "host_memory_configuration": NOT_REPORTED,
        "host_storage_capacity": f"{shutil.disk_usage(storage_path).total / 1e9:.0f} GB",
        "host_storage_type": _storage_type(storage_path),
        "host_networking": "N/A (single node; LoadGen runs in the same process as the SUT)",
        "host_networking_topology": "N/A",
        "host_network_card_count": "0",
        "framework": f"PyTorch {versions['torch']}",
        "operating_system": _os_name(),
        "system_type": SYSTEM_TYPE,
        "system_type_detail": "MLPerf dummy harness: seeded stand-in models with the benchmarks' input/output "
                              "contracts",
        "other_software_stack": ", ".join(f"{k} {v}" for k, v in versions.items() if k != "torch"),
        "cooling": NOT_REPORTED,
        "hw_notes": "read off the machine by dummy_harness.submission.system",
        "sw_notes": "stand-in models (not the reference weights): open division only",
        **_accelerator(device),
    }
    for key, value in (overrides or {}).items():
        desc[key] = value
    return {key: desc.get(key, "") for key in REQUIRED_FIELDS} | {k: v for k, v in desc.items()
                                                                   if k not in REQUIRED_FIELDS}


def load_overrides(path: str) -> Dict[str, Any]:
    with open(path) as f:
        data = json.load(f)
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold one JSON object of system-description fields")
    return data
