"""Facts about the machine a run is on: usable cores, CPU the hypervisor took, memory, library versions."""
from __future__ import annotations

import os
import resource
import sys
from typing import Optional

# Stolen CPU (s) during a run above which an INVALID latency verdict is reported as the host's doing too.
NOTABLE_STEAL_S = 0.3


def user_cache() -> str:
    """This project's folder in the user's cache ($XDG_CACHE_HOME, else ~/.cache): datasets, fitted stand-ins, the
    CM flag cache."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "mlperf-dummy-harness")


def usable_cores() -> int:
    """The cores this process may run on: its CPU affinity (taskset, a cgroup cpuset, `docker run --cpuset-cpus`),
    not the machine's count, so that runs pinned to a core each never start a pool of every core each."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):        # no affinity call on this platform
        return os.cpu_count() or 1


def cpu_stolen_s() -> Optional[float]:
    """CPU time the hypervisor has taken from this (virtual) machine since boot, all cores (/proc/stat 'steal');
    None where the kernel does not say. It is why a latency bound can fail on a shared VM with nothing wrong in the
    harness."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
        return int(fields[8]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def rss_mb() -> float:
    """Resident memory of this process in MiB (Linux), -1 where unknown."""
    try:
        with open("/proc/self/statm") as f:
            return round(int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)
    except (OSError, ValueError, IndexError):
        return -1.0


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)    # kB on Linux


def environment():
    """The versions and thread settings a run had (results.json `environment`)."""
    import mlperf_loadgen  # noqa: F401
    import numpy
    import torch
    from importlib.metadata import PackageNotFoundError, version

    from . import __version__
    from .results import Environment

    try:
        lg_version = version("mlcommons-loadgen")
    except PackageNotFoundError:
        lg_version = "unknown"
    return Environment(
        harness_version=__version__, python=sys.version.split()[0], torch=torch.__version__,
        numpy=numpy.__version__, loadgen=lg_version, cpu_count=os.cpu_count(),
        torch_num_threads=torch.get_num_threads(), torch_interop_threads=torch.get_num_interop_threads(),
        env={k: os.environ[k] for k in sorted(os.environ) if k.startswith(("OMP_", "MKL_", "KMP_", "CUDA_"))})
