"""The Ray executor: the SUT's compute on Ray actors ("workers"), on this machine or on a cluster.

    dummy-harness --executor=ray --workers=2 [--ship_samples] [--ray_address=HOST:PORT]     (CM: _ray)

This process (the driver) keeps LoadGen, the QSL, the dispatcher and the completion path; it runs no model. Each
worker is a Ray actor with one backend and the model on one device, prepared by the same `worker.prepare` as a
run in process, with its own copy of the dataset (rebuilt from the seed where missing, and checked against the
driver's by checksum at start-up). With --ship_samples calls carry the input arrays and workers keep no dataset.

In the order a run meets them:
  connect()      Ray: a new local instance (127.0.0.1 only, no dashboard, token authentication on, object store
                 sized) or the cluster of --ray_address / $RAY_ADDRESS, checked before any dataset work
  RayBackend     what the driver's Worker holds instead of a backend (`worker.prepare(cfg, backend=RayBackend(...))`):
                 load() places and starts the workers (`Pool`); predict() runs one batch on a worker (tuning times
                 through it); close() ends the workers and Ray
  RayWorker      the actor: fixed-compute models answer one call per batch; LLMs run one continuous-batching loop
                 fed by admit() calls, answering through one stream of events (first tokens, answers)
  RayExecutor    the dispatcher: LoadGen's queries -> calls to the least-loaded worker (about two in flight each,
                 never waiting to fill a batch), answers -> the Responder (loadgen/sut.py)

Calls are plain actor calls (Ray Core): no Ray Serve, no compiled graphs, no retries (a failed call ends the run:
no sample is answered twice or made up). What travels, for reviewers of a network-division SUT, and what a cluster
exposes: docs/distributed.md.
"""
from __future__ import annotations

import collections
import functools
import hashlib
import os
import queue
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Deque, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..backends.base import Backend
from ..exit_codes import ExitCode, RunError
from ..models.base import Encoded
from .base import Answer, Executor, Stats, SUTFailure, Work, chunks

# Calls a fixed-compute worker has in flight: one computing, one waiting behind it, so that the round trip of the
# next call overlaps this one's compute. LLM workers hold up to this many times their slots in sequences.
IN_FLIGHT = 2
# A cluster that cannot place the workers is refused after this long (placement groups otherwise wait forever).
PLACEMENT_TIMEOUT_S = 30.0
# Ray reports the CPUs of a group just removed (a run that has just ended) as free a moment later: a node short
# of CPUs is waited for this long, polled every FREE_POLL_S, before the run is refused.
FREE_WAIT_S, FREE_POLL_S = 10.0, 0.1
# Asking the head whether it wants a token: a port that answers but is no Ray head is refused after this long.
PROBE_TIMEOUT_S = 10.0
# Joining a cluster: Ray retries for minutes against a port that is not a Ray head.
JOIN_TIMEOUT_S = 30.0
# Start-up of the workers (import, model, dataset, warm-up); a worker that dies is reported at once.
START_TIMEOUT_S = 900.0
# The local instance's object store: 10% of RAM, at least 256 MiB, at most 2 GiB (Ray's default is 30% of RAM).
STORE_SHARE, STORE_MIN, STORE_MAX = 0.10, 256 << 20, 2 << 30
# Ray's session folders (logs, sockets) of a local instance: a short path, since socket paths over 107 bytes
# break ray.init.
LOCAL_TEMP_DIR = "/tmp/dummy-harness-ray"
# The local instance's Ray processes: the worker processes Ray starts ahead import torch and the harness while
# this process prepares the dataset (an actor then starts about 2 s sooner on 2 cores).
SYSTEM_CONFIG = {"preload_python_modules": ["torch", "dummy_harness.worker"]}
INSTALL_HINT = "pip install 'mlperf-dummy-harness[ray]' (in a checkout: pip install -e '.[ray]')"


def _ray():
    try:
        import ray
    except ImportError:
        raise RunError(f"the Ray executor needs Ray: {INSTALL_HINT}") from None
    return ray


# ---- Ray itself ----------------------------------------------------------------------------------------------------
@dataclass
class Connection:
    """Where the workers run. `owned`: this run started Ray (local) or joined it, and ends that at close()."""
    address: str                 # as results.json says it
    local: bool                  # a Ray instance this run started on this machine
    owned: bool
    seconds: float = 0.0

    def close(self) -> None:
        if self.owned:
            ray = _ray()
            handlers = _signal_handlers()
            try:
                ray.shutdown()
            finally:
                _restore(handlers)
            self.owned = False


def _signal_handlers():
    return {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}


def _restore(handlers) -> None:
    # ray.init (and shutdown) put Ray's own SIGTERM handler in place; the harness's session installs its own
    # handlers for the LoadGen test and expects the process's to be there before and after.
    if threading.current_thread() is threading.main_thread():
        for s, handler in handlers.items():
            if handler is not None:
                signal.signal(s, handler)


def object_store_bytes() -> int:
    """The local object store: a share of RAM, kept within /dev/shm where that is smaller (a store larger than
    /dev/shm falls back to a slower one on disk; Docker's 64 MB /dev/shm is below Ray's minimum store, so a
    container needs --shm-size)."""
    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        ram = 8 << 30
    size = int(min(STORE_MAX, max(STORE_MIN, ram * STORE_SHARE)))
    try:
        shm = os.statvfs("/dev/shm")
        free = shm.f_bavail * shm.f_frsize
        if free >= 100 << 20:
            size = min(size, int(free * 0.8))
    except OSError:
        pass
    return size


def _reachable(address: str) -> Optional[str]:
    """None when something answers at HOST:PORT, else why not (one phrase)."""
    host, _, port = address.rpartition(":")
    host = host.strip("[]")
    try:
        with socket.create_connection((host, int(port)), timeout=3.0):
            return None
    except (OSError, ValueError) as exc:
        return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def connect(cfg, log: Callable[[str], None] = print) -> Connection:
    """Ray for this run: the cluster of --ray_address or $RAY_ADDRESS, else a new local instance. Raises RunError
    (one line) when it cannot, before any dataset work. A process that already called ray.init (tests, bench)
    keeps its own."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")       # no usage report (offline machines)
    ray = _ray()
    if ray.is_initialized():
        return Connection(_address_of(ray, "this process's Ray"), local=False, owned=False)
    address = cfg.ray_address or os.environ.get("RAY_ADDRESS", "").strip() or "local"
    where = "--ray_address" if cfg.ray_address else "$RAY_ADDRESS"
    if address.startswith("ray://"):
        raise RunError(f"{where}={address}: Ray Client (ray://) is too slow for LoadGen (about 500 calls/s); run "
                       "the harness on a node of the cluster with the head's HOST:PORT (e.g. 10.0.0.5:6379)",
                       ExitCode.BAD_INPUT)
    handlers = _signal_handlers()
    started = time.perf_counter()
    try:
        if address == "local":
            _start_local(ray)
            found = Connection(_address_of(ray, "local"), local=True, owned=True)
            found.seconds = round(time.perf_counter() - started, 2)
            mode = os.environ.get("RAY_AUTH_MODE", "")        # ray.init sets it to token unless told otherwise
            auth = "token authentication on" if mode == "token" else f"token authentication OFF (RAY_AUTH_MODE={mode})"
            log(f"Ray {ray.__version__}: started a local instance at {found.address} in {found.seconds:.1f} s "
                f"(bound to 127.0.0.1, no dashboard, {auth}, object store {object_store_bytes() >> 20} MiB)")
            return found
        said = f"{where}={address}"
        if address == "auto":
            # The cluster `ray start` last started on this machine (/tmp/ray/ray_current_cluster).
            address = _ray_current_cluster(said)
            said = f"{said} ({address})"
        why = _reachable(address)
        if why:
            raise RunError(f"{said}: no Ray cluster answers there ({why}); start one with `ray start --head` and "
                           "pass its HOST:PORT")
        if _loopback(address):
            _loopback_only(ray)      # else Ray would look for the head at this machine's network address
        _match_authentication(address, said, log)
        _join(ray, address, said)
        found = Connection(_address_of(ray, address), local=False, owned=True)
        found.seconds = round(time.perf_counter() - started, 2)
        log(f"Ray {ray.__version__}: joined the cluster at {found.address} in {found.seconds:.1f} s "
            f"({len(_alive_nodes(ray))} nodes)")
        return found
    finally:
        _restore(handlers)


def _ray_current_cluster(where: str) -> str:
    try:
        from ray._private.services import find_bootstrap_address
        found = find_bootstrap_address(None)
    except Exception:   # noqa: BLE001 - no record
        found = None
    if not found:
        raise RunError(f"{where}: no Ray cluster was started on this machine (`ray start --head` records one)")
    return str(found)


def _loopback(address: str) -> bool:
    host = address.rpartition(":")[0].strip("[]")
    return host in ("localhost", "::1") or host.startswith("127.")


def _loopback_only(ray) -> None:
    """Every Ray process this one starts or talks to on this machine uses 127.0.0.1: Ray's own switch for
    machines that are not cluster nodes (ray._private.services.get_node_ip_address), read by this process and by
    the processes ray.init starts (they inherit the environment)."""
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    from ray._private import ray_constants
    ray_constants.ENABLE_RAY_CLUSTER = False


def _wants_token(address: str) -> Optional[bool]:
    """Whether the cluster's head refuses a caller without Ray's authentication token (asked without one; None:
    it could not be asked)."""
    try:
        from ray._raylet import Config, GcsClient
        from ray.exceptions import AuthenticationError
    except ImportError:
        return None
    saved = os.environ.get("RAY_AUTH_MODE")
    os.environ["RAY_AUTH_MODE"] = "disabled"
    Config.initialize("")
    try:
        GcsClient(address=address).internal_kv_get(b"dummy-harness-probe", namespace=None, timeout=5)
        return False
    except AuthenticationError:
        return True
    except Exception:   # noqa: BLE001 - ray.init says what is wrong
        return None
    finally:
        if saved is None:
            del os.environ["RAY_AUTH_MODE"]
        else:
            os.environ["RAY_AUTH_MODE"] = saved
        Config.initialize("")


def _match_authentication(address: str, said: str, log: Callable[[str], None]) -> None:
    """Join with token authentication exactly when the cluster uses it (Ray 2.60's default for a new local
    cluster; `ray start` uses it where a token exists). Both sides must agree: a driver that expects a token
    refuses the cluster's calls. Ray itself sends this machine's token to an explicit address only with
    RAY_AUTH_MODE=token (a mistyped remote address would receive it): this run does so unasked only for a
    cluster on this machine (127.0.0.1)."""
    from pathlib import Path

    answer: List[Optional[bool]] = []
    probe = threading.Thread(target=lambda: answer.append(_wants_token(address)), name="ray-probe", daemon=True)
    probe.start()
    probe.join(PROBE_TIMEOUT_S)
    if not answer:
        raise RunError(f"{said}: no Ray head answers there (the port is open, but no Ray cluster replied within "
                       f"{PROBE_TIMEOUT_S:g} s)")
    wants = answer[0]
    mode = os.environ.get("RAY_AUTH_MODE", "").lower()
    if wants is None or wants == (mode == "token"):
        return
    if not wants:
        log(f"note: the Ray cluster at {address} runs without token authentication (RAY_AUTH_MODE={mode} here): "
            "joined without it; keep that cluster on a private network")
        os.environ["RAY_AUTH_MODE"] = "disabled"
        from ray._raylet import Config
        Config.initialize("")
        return
    has_token = bool(os.environ.get("RAY_AUTH_TOKEN") or os.environ.get("RAY_AUTH_TOKEN_PATH") or
                     (Path.home() / ".ray" / "auth_token").is_file())
    if not (_loopback(address) and has_token and not mode):
        raise RunError(f"{said}: the Ray cluster there requires its authentication token; set "
                       "RAY_AUTH_MODE=token with the cluster's token in RAY_AUTH_TOKEN (or ~/.ray/auth_token)")
    from ray._private.authentication.authentication_token_setup import _enable_token_auth
    _enable_token_auth()


def _join(ray, address: str, said: str) -> None:
    """ray.init against a cluster, given JOIN_TIMEOUT_S: against a port that answers but is no Ray head (or one
    whose token differs) Ray retries for minutes."""
    failed: List[BaseException] = []

    def init() -> None:
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
        except BaseException as exc:   # noqa: BLE001 - reported on the caller's thread
            failed.append(exc)

    thread = threading.Thread(target=init, name="ray-join", daemon=True)
    thread.start()
    thread.join(JOIN_TIMEOUT_S)
    if thread.is_alive():
        sys.stderr.flush()
        raise RunError(f"{said}: no Ray cluster answered within {JOIN_TIMEOUT_S:g} s (something listens "
                       "there, but not a Ray head that accepts this machine's token)")
    if failed:
        exc = failed[0]
        reason = " ".join(str(exc).split())[:300]
        raise RunError(f"{said}: cannot join the Ray cluster: {type(exc).__name__}: {reason}")


def _start_local(ray, num_cpus: Optional[int] = None) -> None:
    """ray.init of a new local instance (`num_cpus`: default, the cores this process may use)."""
    from ..host import usable_cores

    _loopback_only(ray)
    os.makedirs(LOCAL_TEMP_DIR, exist_ok=True)
    try:
        ray.init(address="local", num_cpus=num_cpus or usable_cores(), include_dashboard=False,
                 object_store_memory=object_store_bytes(), log_to_driver=False, logging_level="ERROR",
                 _temp_dir=LOCAL_TEMP_DIR, _system_config=SYSTEM_CONFIG)
    except Exception as exc:   # noqa: BLE001 - Ray's own reason, on one line
        reason = " ".join(str(exc).split())[:300]
        raise RunError(f"cannot start a local Ray instance: {type(exc).__name__}: {reason}") from None


def _address_of(ray, fallback: str) -> str:
    try:
        return ray.get_runtime_context().gcs_address or fallback
    except Exception:   # noqa: BLE001 - only a label
        return fallback


def _alive_nodes(ray) -> List[Dict[str, Any]]:
    return [n for n in ray.nodes() if n.get("Alive")]


def node_label(node: Dict[str, Any]) -> str:
    """A node as the logs name it: its name (Ray's NodeName, the IP unless `ray start --node-name`), its IP where
    the name is not the IP, and the start of its id."""
    name, ip = node.get("NodeName") or "?", node.get("NodeManagerAddress") or "?"
    return f"{name}{'' if name == ip else f' ({ip})'} [{str(node.get('NodeID', ''))[:8]}]"


def dataset_digest(path: str) -> str:
    """A checksum of a dataset folder's arrays (every .npy file, by name), to compare copies on several machines."""
    digest = hashlib.sha1()
    for name in sorted(f for f in os.listdir(path) if f.endswith(".npy")):
        digest.update(name.encode())
        with open(os.path.join(path, name), "rb") as f:
            for block in iter(functools.partial(f.read, 1 << 22), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


def to_wire(value):
    """Tensors as numpy arrays (Ray ships those without a copy into a pickle), tuples (a batch's inputs, a
    DecodeStep) as a list with their type's name."""
    import torch

    if isinstance(value, torch.Tensor):
        return ("tensor", value.detach().cpu().numpy())
    if isinstance(value, tuple):
        return (type(value).__name__, [to_wire(v) for v in value])
    return ("value", value)


def from_wire(wire):
    import torch

    from ..backends.base import DecodeStep

    kind, value = wire
    if kind == "tensor":
        return torch.from_numpy(np.array(value))      # writable: Ray hands back read-only arrays
    if kind == "DecodeStep":
        return DecodeStep(*[from_wire(v) for v in value])
    if kind == "value":
        return value
    return tuple(from_wire(v) for v in value)


# ---- the actor -----------------------------------------------------------------------------------------------------
class _Events:
    """A Responder on a worker: collects a generation step's first tokens and answers, in the order they came."""

    def __init__(self):
        self.items: List[tuple] = []
        self.stop_requested = threading.Event()

    def answered(self, answer: Answer) -> None:
        self.items.append(("answer", list(answer.ids), answer.encoded.buffer, answer.encoded.spans,
                           None if answer.n_tokens is None else [int(n) for n in answer.n_tokens]))

    def first_tokens(self, ids: Sequence[int], tokens: np.ndarray) -> None:
        self.items.append(("first", list(ids), np.asarray(tokens, dtype=np.int32)))

    def check_stop(self) -> None:
        pass


class _Counter:
    """A Responder that only notes when how many samples were answered (capacity estimates)."""

    def __init__(self, clock):
        self.clock, self.done = clock, []
        self.stop_requested = threading.Event()

    def answered(self, answer: Answer) -> None:
        self.done.append((self.clock(), len(answer.ids)))

    def first_tokens(self, ids, tokens) -> None:
        pass

    def check_stop(self) -> None:
        pass


class _Shipped:
    """The worker an LLM Generator reads prompts from when the calls carry them (--ship_samples)."""

    def __init__(self, worker):
        self.bench, self.backend, self.prompts = worker.bench, worker.backend, {}

    def prompt(self, index: int) -> np.ndarray:
        return self.prompts[index]


_STOP = ("stop",)


class RayWorker:
    """One worker, as a Ray actor (`ray.remote(RayWorker)`, threaded): a backend with the model on one device.

    One compute thread does every torch op (it prepares the model, then runs what the calls hand it: each Python
    thread running torch has its own OpenMP pool, loadgen-facts.md); the calls only hand work over and wait. So a
    call's reply is sent while the compute thread already runs the next call's batch: two calls in flight keep the
    device busy, with no gap for Ray's own work between them.
    Fixed-compute models: compute(indices) or compute_rows(indices, rows) answers one batch: (response buffer,
    spans, compute seconds). LLMs: the compute thread runs a Generator (continuous batching, executors/
    generation.py) over what admit() calls hand in; events() streams, per step, the first tokens and answers that
    step made, until stop()."""

    def __init__(self, cfg, index: int, threads: int, build_threads: int, calibration=None,
                 backend: Optional[Backend] = None):
        # The stand-in is built with the driver's torch pool size: some stand-ins' weights depend on it (LLMs), and
        # the dataset's key and ground truth on the weights. The worker then computes with `threads`.
        self.cfg, self.index, self.threads = replace(cfg, threads=build_threads), index, threads
        self.ship = calibration is not None
        self.generative = self.cfg.spec.generative
        self.error: Optional[Tuple[str, int]] = None
        self.worker = None
        self.digest = ""
        self.seconds = 0.0
        self.started = time.perf_counter()
        self._args = (calibration, backend)
        # As LoadGen's session does: a thread handing work over takes the GIL back within 0.2 ms.
        sys.setswitchinterval(0.0002)
        self._inbox: "queue.SimpleQueue" = queue.SimpleQueue()
        self._outbox: "queue.SimpleQueue" = queue.SimpleQueue()
        self._prepared = threading.Event()
        threading.Thread(target=self._loop, name="compute", daemon=True).start()
        self._prepared.wait()

    def _prepare(self) -> None:
        import torch

        from ..worker import prepare, prepare_compute

        calibration, backend = self._args
        self._args = None
        try:
            if self.ship:
                self.worker = prepare_compute(self.cfg, calibration, log=lambda line: None, backend=backend)
                self.digest = self.worker.model_digest
            else:
                # Samples are loaded as the driver's LoadGen loads them (load/unload below, and on first use).
                self.worker = prepare(self.cfg, log=lambda line: None, backend=backend)
                self.digest = dataset_digest(self.worker.dataset.path)
            torch.set_num_threads(self.threads)
        except RunError as exc:
            self.error = (str(exc), int(exc.code))
        except Exception as exc:   # noqa: BLE001 - reported by ready(), on one line
            self.error = (f"{type(exc).__name__}: {exc}", int(ExitCode.SUT_FAILURE))
        self.seconds = time.perf_counter() - self.started

    def ready(self) -> Dict[str, Any]:
        """Where this worker runs and what it prepared (or why it could not)."""
        import ray
        import torch

        from .. import __version__
        context = ray.get_runtime_context()
        info: Dict[str, Any] = {"index": self.index, "error": self.error, "node_id": context.get_node_id(),
                                "pid": os.getpid(), "host": socket.gethostname(), "torch_threads": self.threads,
                                "harness": __version__, "torch": torch.__version__.split("+")[0],
                                "gpus": [str(g) for g in ray.get_gpu_ids()], "digest": self.digest,
                                "seconds": round(self.seconds, 2)}
        if self.worker is not None:
            info["backend"] = self.worker.backend.describe()
            if self.worker.dataset is not None:
                info["dataset_key"] = self.worker.dataset.meta.get("key", "")
        return info

    def _on_compute_thread(self, fn: Callable[[], Any]) -> Any:
        box: "queue.SimpleQueue" = queue.SimpleQueue()
        self._inbox.put(("call", fn, box))
        ok, value = box.get()
        if not ok:
            raise value
        return value

    # ---- fixed-compute models: one call, one batch ----------------------------------------------------------------
    def compute(self, indices: List[int]):
        return self._on_compute_thread(functools.partial(self._compute, indices))

    def compute_rows(self, indices: List[int], rows: Dict[str, np.ndarray]):
        """A batch whose inputs came with the call (--ship_samples): row i of each array is sample indices[i]."""
        return self._on_compute_thread(functools.partial(self._compute_rows, indices, rows))

    def _compute(self, indices: List[int]):
        started = time.perf_counter()
        self.worker.store.load(indices)          # loaded already, unless the driver's load is still on its way
        encoded = self.worker.compute(indices)
        return encoded.buffer, encoded.spans, time.perf_counter() - started

    def _compute_rows(self, indices: List[int], rows: Dict[str, np.ndarray]):
        started = time.perf_counter()
        worker = self.worker
        try:
            inputs = worker.bench.collate(rows, list(range(len(indices)))) if worker.backend.reads_inputs else \
                (np.empty((len(indices), 0), np.float32),)
            submitted = worker.backend.submit(inputs)
        except Exception as exc:   # noqa: BLE001 - any failure ends the run, with its reason
            raise SUTFailure(f"{type(exc).__name__} on a batch of {len(indices)} samples: {exc}") from exc
        encoded = worker.collect(submitted, indices)
        return encoded.buffer, encoded.spans, time.perf_counter() - started

    def follow(self, kind: str, indices: List[int]) -> None:
        """The driver's LoadGen loaded or unloaded these samples: this worker's copy of the dataset does too."""
        if not self.ship:
            self._inbox.put(("samples", kind, indices))

    def predict(self, wire):
        """One backend call on inputs that came with it (to_wire; tuning times batches through this)."""
        return self._on_compute_thread(lambda: to_wire(self.worker.backend.predict(from_wire(wire))))

    def node(self) -> str:
        import ray
        return ray.get_runtime_context().get_node_id()

    # ---- LLMs: admit() in, events() out ------------------------------------------------------------------------------
    def start(self, slots: int, stream_first_token: bool, report_tokens: bool) -> None:
        """A new run's generation settings (the Generator is made on the compute thread)."""
        self._inbox.put(("start", slots, stream_first_token, report_tokens))

    def admit(self, ids: List[int], indices: List[int], prompts: Optional[List[np.ndarray]] = None) -> None:
        self._inbox.put(("work", ids, indices, prompts))

    def stop(self) -> None:
        self._inbox.put(_STOP)

    def events(self):
        """Until stop(): lists of ("first", ids, tokens), ("answer", ids, buffer, spans, n_tokens),
        ("stats", decode steps, busy seconds, tokens) and ("error", reason); what has piled up goes as one item."""
        while True:
            batch = self._outbox.get()
            if batch is _STOP:
                return
            batch, stop = list(batch), False
            while not stop:
                try:
                    item = self._outbox.get_nowait()
                except queue.Empty:
                    break
                stop = item is _STOP
                if not stop:
                    batch.extend(item)
            yield batch
            if stop:
                return

    # ---- the compute thread -----------------------------------------------------------------------------------------
    def _loop(self) -> None:
        from .generation import Generator

        self._prepare()
        self._prepared.set()
        generator, events, stats = None, _Events(), Stats()
        shipped = _Shipped(self.worker) if self.worker is not None else None
        unsent = (0, 0.0, 0)          # decode steps, busy seconds, tokens not yet sent
        while True:
            busy = generator is not None and generator.busy
            try:
                item = self._inbox.get_nowait() if busy else self._inbox.get()
            except queue.Empty:
                item = None
            while item is not None:
                kind = item[0]
                if kind == "call":
                    _, fn, box = item
                    try:
                        if self.worker is None:
                            raise SUTFailure(f"the worker did not start: {self.error[0] if self.error else '?'}")
                        box.put((True, fn()))
                    except Exception as exc:   # noqa: BLE001 - raised again in the caller's thread
                        box.put((False, exc))
                elif kind == "stop":
                    generator = None
                    self._outbox.put(_STOP)
                elif kind == "start" and self.worker is not None:
                    _, slots, stream, report = item
                    stats = Stats()
                    generator = Generator(shipped if self.ship else self.worker, slots, events, stats, stream,
                                          report)
                elif kind == "samples" and self.worker is not None:
                    _, what, indices = item
                    (self.worker.store.load if what == "load" else self.worker.store.unload)(indices)
                elif kind == "work":
                    _, ids, indices, prompts = item
                    if prompts is not None and shipped is not None:
                        shipped.prompts.update(zip(indices, prompts))
                    elif self.worker is not None and not self.ship:
                        self.worker.store.load(indices)
                    if generator is not None:
                        generator.admit(Work(ids, indices))
                try:
                    item = self._inbox.get_nowait()
                except queue.Empty:
                    item = None
            if generator is None or not generator.busy:
                continue
            before = (stats.batches, stats.busy_s, stats.tokens)
            try:
                generator.step()
            except Exception as exc:   # noqa: BLE001 - any failure ends the run, with its reason
                events.items.append(("error", str(exc) if isinstance(exc, SUTFailure) else
                                     f"{type(exc).__name__} while generating: {exc}"))
                generator = None
            steps, busy_s, tokens = (stats.batches - before[0], stats.busy_s - before[1], stats.tokens - before[2])
            unsent = (unsent[0] + steps, unsent[1] + busy_s, unsent[2] + tokens)
            # A step that answered or started nothing sends nothing (its counts go with the next that does).
            if events.items or generator is None or not generator.busy:
                events.items.append(("stats",) + unsent)
                unsent = (0, 0.0, 0)
                self._outbox.put(events.items)
                events.items = []


# ---- the driver's stand-in backend, and the workers it starts ------------------------------------------------------
@dataclass
class WorkerInfo:
    index: int
    node: str                         # node_label()
    node_id: str
    device: str
    pid: int
    torch_threads: int
    start_s: float


@dataclass
class Pool:
    """The started workers: actor handles, where each runs, and the placement group that holds them."""
    actors: List[Any]
    infos: List[WorkerInfo]
    placement: str
    connection: Connection
    group: Any = None
    backend_info: Dict[str, Any] = field(default_factory=dict)

    def close(self) -> None:
        ray = _ray()
        for actor in self.actors:
            try:
                ray.kill(actor, no_restart=True)
            except Exception:   # noqa: BLE001 - already gone
                pass
        if self.group is not None:
            try:
                from ray.util.placement_group import remove_placement_group
                remove_placement_group(self.group)
            except Exception:   # noqa: BLE001 - the cluster is gone with it
                pass
        self.actors = []


def _refuse(message: str, code: ExitCode = ExitCode.ENVIRONMENT):
    raise RunError(message, code)


def _free_cpus(ray, total: float, wanted: float) -> float:
    """The CPUs free on a one-node cluster of `total`, waiting up to FREE_WAIT_S for `wanted` of them while a group
    just removed is still counted as held; at once when `wanted` can never fit."""
    deadline = time.monotonic() + (FREE_WAIT_S if wanted <= total else 0)
    while True:
        free = min(total, ray.available_resources().get("CPU", 0))
        if free >= wanted or time.monotonic() >= deadline:
            return free
        time.sleep(FREE_POLL_S)


def _placement(ray, cfg, connection: Connection):
    """(bundles, strategy, torch threads of each worker) for cfg's workers, or a one-line refusal saying what the
    cluster lacks. One worker per GPU (_cuda); one per node on a cluster of several CPU nodes; on one node (this
    machine, or a cluster of one) the workers share its CPUs."""
    n, where = cfg.worker_count, f"the Ray cluster at {connection.address}"
    nodes = _alive_nodes(ray)
    if cfg.device == "gpu":
        gpus = sum(node["Resources"].get("GPU", 0) for node in nodes)
        if gpus < n:
            _refuse(f"--workers={n} with _cuda needs {n} GPUs (one worker each); {where} has {gpus:g}")
        return [{"GPU": 1, "CPU": 1}] * n, "PACK", [cfg.threads or 1] * n
    cpu_nodes = [node for node in nodes if node["Resources"].get("CPU", 0) >= 1]
    if not cpu_nodes:
        _refuse(f"{where} has no node with a CPU for the workers")
    if len(cpu_nodes) == 1:
        # The CPUs free now (other runs may hold some of a shared cluster's), shared; below one each, fractions.
        total = cpu_nodes[0]["Resources"]["CPU"]
        cores = _free_cpus(ray, total, cfg.threads * n if cfg.threads else min(n, total))
        if cfg.threads:        # each worker a torch pool of that size, on as many CPUs
            if cfg.threads * n > cores:
                _refuse(f"--workers={n} with --threads={cfg.threads} needs {cfg.threads * n} CPUs; {where} has "
                        f"{cores:g} free on its one CPU node ({node_label(cpu_nodes[0])})")
            return [{"CPU": cfg.threads}] * n, "PACK", [cfg.threads] * n
        if cores < 0.01 * n:
            _refuse(f"{where} has no CPU free for {n} workers (its one CPU node: {node_label(cpu_nodes[0])})")
        share = int(cores) // n if n <= int(cores) else int(cores / n * 1e4) / 1e4
        return [{"CPU": share}] * n, "PACK", [max(1, int(share))] * n
    if len(cpu_nodes) < n:
        _refuse(f"--workers={n} needs {n} nodes with a CPU (one worker per node); {where} has {len(cpu_nodes)}: "
                f"{', '.join(node_label(node) for node in cpu_nodes)}")
    return [{"CPU": 1}] * n, "STRICT_SPREAD", [cfg.threads or 0] * n     # 0: the node's CPUs, once placed


class RayBackend(Backend):
    """The driver's stand-in for the workers' backend: what `worker.prepare` loads in this process when the compute
    runs on Ray. Connects when made (a dead address fails here, before any dataset work); load() starts the
    workers; predict() runs a batch on one of them with its inputs; describe() is worker 0's backend's."""
    name = "ray"
    follows_torch_threads = False     # the workers' pools are theirs: no thread choice in this process

    def __init__(self, cfg, log: Callable[[str], None] = print, worker_backend: Optional[Backend] = None):
        self.cfg, self.log = cfg, log
        self.worker_backend = worker_backend     # an instance each worker runs instead of cfg's (bench, tests)
        self.connection = connect(cfg, log)
        self.pool: Optional[Pool] = None
        from .. import backends
        plugin = backends.plugin_path(cfg.implementation_repo)
        # The workers load the plug-in (prepare() only notes here that one is used).
        self.plugin = plugin if plugin and os.path.isfile(plugin) else ""
        self._next = 0

    @property
    def version(self) -> str:
        return str((self.pool.backend_info if self.pool else {}).get("version", ""))

    def load(self, model, device: str, precision: str, calibration) -> None:
        self.pool = start_workers(self.cfg, self.connection, model, calibration if self.cfg.ship_samples else None,
                                  self.log, self.worker_backend, getattr(self, "cache_dir", ""))

    def predict(self, inputs):
        pool = self.pool
        if self.cfg.spec.generative:
            actor = pool.actors[0]       # a decode step needs the worker that holds its KV cache
        else:
            actor = pool.actors[self._next % len(pool.actors)]
            self._next += 1
        try:
            return from_wire(_ray().get(actor.predict.remote(to_wire(inputs))))
        except Exception as exc:   # noqa: BLE001 - the worker's reason, on one line (tuning: exit 4)
            raise RunError(failure_reason(exc), ExitCode.SUT_FAILURE) from None

    # ---- capacity estimates of fast and valid runs (tuning.tune), measured through the workers ---------------------
    def sustained_throughput(self, worker, loaded: int, max_batch: int, workers: int, seconds: float,
                             clock=time.perf_counter) -> Tuple[float, float]:
        """(mean, peak) samples/s the Ray executor sustains on batches of the first `loaded` samples for `seconds`,
        as an Offline run dispatches them (tuning.sustained_throughput's contract; `workers` is this process's
        compute threads, which do not compute here)."""
        try:
            return self._sustained_throughput(worker, loaded, max_batch, seconds, clock)
        except SUTFailure as exc:
            raise RunError(str(exc), ExitCode.SUT_FAILURE) from None

    def _sustained_throughput(self, worker, loaded: int, max_batch: int, seconds: float, clock):
        from ..tuning import peak_rate
        from .base import ExecutionPlan

        executor, counter = RayExecutor(ExecutionPlan(worker, max_batch)), _Counter(clock)
        executor.attach(counter)
        rng = np.random.default_rng(0)
        size = min(max_batch, loaded)
        refill = 4 * IN_FLIGHT * len(self.pool.actors)          # batches kept waiting: no worker ever idles
        issued = 0
        executor.issue(Work(list(range(size)), rng.choice(loaded, size=size, replace=False).tolist()))
        executor.finish()
        executor.serve()                                         # untimed: one batch, everything warm
        executor._finished = False
        started = clock()
        counter.done.clear()
        while clock() - started < seconds:
            while executor._outstanding < refill * size:
                executor.issue(Work(list(range(issued, issued + size)),
                                    rng.choice(loaded, size=size, replace=False).tolist()))
                issued += size
            time.sleep(0.001)
            if executor._failure:
                break
        ended = clock()
        executor.finish()
        executor.serve()
        done = sorted(d for d in counter.done if d[0] <= ended)
        mean = sum(n for _, n in done) / (ended - started)
        return mean, max(mean, peak_rate(done, started, (ended - started) / 4))

    def sustained_generation_rate(self, worker, slots: int, samples: int, clock=time.perf_counter) -> float:
        """Samples/s the workers' engines sustain together on `samples` prompts (tuning's contract)."""
        from .base import ExecutionPlan

        executor, counter = RayExecutor(ExecutionPlan(worker, slots)), _Counter(clock)
        executor.attach(counter)
        try:
            executor.issue(Work(list(range(min(samples, slots))), list(range(min(samples, slots)))))  # warm-up
            executor.finish()
            executor.serve()
            executor._finished = False
            started = clock()
            executor.issue(Work(list(range(samples)), list(range(samples))))
            executor.finish()
            executor.serve()
            return samples / (clock() - started)
        except SUTFailure as exc:
            raise RunError(str(exc), ExitCode.SUT_FAILURE) from None
        finally:
            executor.close()

    def describe(self) -> Dict[str, Any]:
        info = dict(self.pool.backend_info) if self.pool else {"backend": self.cfg.backend}
        info["runs_on"] = f"{len(self.pool.actors) if self.pool else 0} Ray workers (see executor)"
        return info

    def close(self) -> None:
        try:
            if self.pool is not None:
                self.pool.close()
        finally:
            self.connection.close()


def start_workers(cfg, connection: Connection, model, calibration, log: Callable[[str], None],
                  worker_backend: Optional[Backend] = None, cache_dir: str = "") -> Pool:
    """Place cfg's workers, start them (each prepares its worker, rebuilding its copy of the dataset where it has
    none) and check their copies against this process's dataset. RunError (one line) when the cluster is too
    small, a worker cannot start, or a copy differs."""
    ray = _ray()
    from ray.util.placement_group import placement_group, remove_placement_group
    from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    started = time.perf_counter()
    bundles, strategy, threads = _placement(ray, cfg, connection)
    group = placement_group(bundles, strategy=strategy)
    try:
        ray.get(group.ready(), timeout=PLACEMENT_TIMEOUT_S)
    except Exception:   # noqa: BLE001 - GetTimeoutError: what it could not get, in one line
        remove_placement_group(group)
        free = ray.available_resources()
        wanted = ", ".join(f"{v:g} {k}" for k, v in bundles[0].items())
        _refuse(f"the Ray cluster at {connection.address} could not place {cfg.worker_count} workers ({wanted} each, "
                f"{strategy}) within {PLACEMENT_TIMEOUT_S:g} s; free now: {free.get('CPU', 0):g} CPU, "
                f"{free.get('GPU', 0):g} GPU")
    nodes = {node["NodeID"]: node for node in ray.nodes()}
    table = ray.util.placement_group_table(group)
    placed = [table["bundles_to_node_id"].get(i, "") for i in range(len(bundles))]
    for i, node_id in enumerate(placed):
        if not threads[i]:
            threads[i] = max(1, int(nodes.get(node_id, {}).get("Resources", {}).get("CPU", 1)))
    from ..tuning import thread_layout
    build_threads = thread_layout(cfg)[1]
    remote = ray.remote(RayWorker)
    actors = [remote.options(num_cpus=bundles[i].get("CPU", 0), num_gpus=bundles[i].get("GPU", 0),
                             max_concurrency=8, max_restarts=0, max_task_retries=0,
                             scheduling_strategy=PlacementGroupSchedulingStrategy(group, placement_group_bundle_index=i))
              .remote(cfg, i, threads[i], build_threads, calibration, worker_backend) for i in range(len(bundles))]
    pool = Pool(actors, [], strategy, connection, group)
    try:
        expected = _driver_digest(cfg, model, cache_dir, calibration is not None)
        refs, infos = [actor.ready.remote() for actor in actors], []
        deadline = time.monotonic() + START_TIMEOUT_S
        for i, ref in enumerate(refs):
            try:
                infos.append(ray.get(ref, timeout=max(1.0, deadline - time.monotonic())))
            except Exception as exc:   # noqa: BLE001 - the worker died while starting, or never answered
                node = node_label(nodes.get(placed[i], {"NodeID": placed[i]}))
                _refuse(f"worker {i} on node {node} failed to start: {failure_reason(exc)}", ExitCode.SUT_FAILURE)
        for info in infos:
            node = node_label(nodes.get(info["node_id"], {"NodeID": info["node_id"]}))
            if info["error"]:
                message, code = info["error"]
                _refuse(f"worker {info['index']} on node {node}: {message}", ExitCode(code))
            _check_same(info, node, expected)
            device = f"gpu {','.join(info['gpus'])}" if info["gpus"] else "cpu"
            pool.infos.append(WorkerInfo(info["index"], node, info["node_id"], device, info["pid"],
                                         info["torch_threads"], info["seconds"]))
        pool.backend_info = infos[0].get("backend", {})
    except BaseException:
        pool.close()
        raise
    log(f"Ray: {len(actors)} workers ready in {time.perf_counter() - started:.1f} s ({strategy}): " +
        "; ".join(f"{w.index} on {w.node} ({w.device}, {w.torch_threads} torch threads)" for w in pool.infos))
    return pool


def _driver_digest(cfg, model, cache_dir: str, ship: bool) -> Tuple[str, str]:
    """(dataset key, checksum of its arrays) of this process's dataset, which prepare() has just opened; with
    --ship_samples (workers keep no dataset) the digest of the stand-in's weights."""
    from .. import models
    from ..dataset import dataset_key, default_root, weights_digest

    if ship:
        return "", weights_digest(model)
    bench = models.load(cfg.spec, cfg.size)
    key = dataset_key(bench, cfg.samples, cfg.seed, model)
    root = cache_dir or cfg.dataset_dir or default_root()
    return key, dataset_digest(os.path.join(root, key))


def _check_same(info: Dict[str, Any], node: str, expected: Tuple[str, str]) -> None:
    from .. import __version__
    import torch

    ours = (__version__, torch.__version__.split("+")[0])
    if (info["harness"], info["torch"]) != ours:
        _refuse(f"worker {info['index']} on node {node} runs harness {info['harness']} with torch {info['torch']}, "
                f"this process {ours[0]} with torch {ours[1]}: install the same on every node")
    if not expected[0] and info["digest"] != expected[1]:
        _refuse(f"worker {info['index']} on node {node} built a stand-in with other weights (digest "
                f"{info['digest']}, this process {expected[1]}): install the same torch on every node")
    if expected[0] and (info.get("dataset_key"), info["digest"]) != expected:
        _refuse(f"worker {info['index']} on node {node} has dataset {info.get('dataset_key')} with checksum "
                f"{info['digest']}, this process {expected[0]} with {expected[1]}: the node's copy differs "
                "(remove it from its dataset cache to rebuild it, or run with --ship_samples)")


def failure_reason(exc: BaseException) -> str:
    """A worker's failure in one line: the exception raised on the worker, or what Ray says of the worker."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, SUTFailure):
        return str(cause)
    if cause is not None and cause is not exc:
        return f"{type(cause).__name__}: {' '.join(str(cause).split())[:300]}"
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:300]}"


# ---- the executor --------------------------------------------------------------------------------------------------
class RayExecutor(Executor):
    """LoadGen's queries to the workers, their answers back. Fixed-compute models: a query is cut into batches of
    at most max_batch, and batches of queries that have arrived are joined (never with --ship_samples: one call
    per query); each goes to the worker with the fewest calls in flight (ties in turn), at most IN_FLIGHT each, so
    a free worker pulls the next batch. LLMs: samples go to the worker with the fewest sequences, each sequence
    staying on its worker, which streams back first tokens and answers. A failed call ends the run (SUTFailure)."""
    name = "ray"
    queued = True

    @classmethod
    def driver_backend(cls, cfg, log: Callable[[str], None] = print) -> "RayBackend":
        """The run's stand-in backend (executors.driver_backend): connects now, starts the workers in prepare()."""
        return RayBackend(cfg, log)

    def __init__(self, plan):
        super().__init__(plan)
        backend = plan.worker.backend
        if not isinstance(backend, RayBackend) or backend.pool is None:
            raise RuntimeError("the ray executor needs the workers a RayBackend started (executors.driver_backend)")
        self.ray = _ray()
        self.pool = backend.pool
        self.cfg = backend.cfg
        self.ship = bool(self.cfg.ship_samples)
        self.network = self.ship            # LoadGen's SUT becomes a QDL whose name asks every worker
        self.generative = plan.worker.bench.generative
        n = len(self.pool.actors)
        self._lock = threading.Condition()
        self._pending: Deque[Work] = collections.deque()
        self._in_flight = [0] * n           # calls (fixed compute) or sequences (LLMs) on each worker
        self._served = [0] * n
        self._calls = [0] * n
        self._outstanding = 0               # samples issued and not answered
        self._limit = IN_FLIGHT if not self.generative else IN_FLIGHT * plan.max_batch
        self._next = 0
        self._finished = False
        self._failure: Optional[str] = None
        self._readers: List[threading.Thread] = []
        if not self.ship:        # each worker's copy of the dataset follows the loadable sets LoadGen asks for
            plan.worker.store.listeners.append(self._follow)

    def _follow(self, kind: str, indices: List[int]) -> None:
        for actor in self.pool.actors:
            actor.follow.remote(kind, indices)

    # ---- the Executor interface -----------------------------------------------------------------------------------
    def attach(self, responder) -> None:
        super().attach(responder)
        if not self.generative:
            return
        plan = self.plan
        ray = self.ray
        ray.get([a.start.remote(plan.max_batch, plan.stream_first_token, plan.report_tokens)
                 for a in self.pool.actors])
        for i, actor in enumerate(self.pool.actors):
            stream = actor.events.options(num_returns="streaming").remote()
            reader = threading.Thread(target=self._read, args=(i, stream), name=f"ray-events-{i}", daemon=True)
            reader.start()
            self._readers.append(reader)

    def issue(self, work: Work) -> None:
        with self._lock:
            self._outstanding += len(work.ids)
            if self.generative:
                self._pending.append(work)
            else:
                self._pending.extend(chunks(work, self.plan.max_batch))
            self._pump()

    def finish(self) -> None:
        with self._lock:
            self._finished = True
            self._lock.notify_all()

    def serve(self, poll_s: float = 0.5) -> None:
        """Until finish() and every issued sample answered; a worker's failure is raised here (SUTFailure)."""
        stop = self.responder.stop_requested
        with self._lock:
            while True:
                if self._failure:
                    raise SUTFailure(self._failure)
                if stop.is_set() or (self._finished and self._outstanding == 0):
                    return
                self._lock.wait(poll_s)

    def close(self) -> None:
        if self._follow in self.plan.worker.store.listeners:
            self.plan.worker.store.listeners.remove(self._follow)
        if self.generative:
            for actor in self.pool.actors:
                try:
                    actor.stop.remote()
                except Exception:   # noqa: BLE001 - a dead worker has nothing to stop
                    pass
            for reader in self._readers:
                reader.join(timeout=10)

    def describe(self) -> Dict[str, Any]:
        return {"name": self.name, "address": self.pool.connection.address,
                "ray": self.ray.__version__, "placement": self.pool.placement,
                "calls_carry": "input arrays" if self.ship else "sample indices",
                "workers": [{"worker": w.index, "node": w.node, "device": w.device, "pid": w.pid,
                             "torch_threads": w.torch_threads, "start_s": w.start_s, "samples": self._served[i],
                             "calls": self._calls[i]} for i, w in enumerate(self.pool.infos)]}

    def sut_name(self) -> str:
        """LoadGen's SUT name with --ship_samples (the network division's Name()): asks every worker where it runs,
        a round trip each."""
        nodes = {node["NodeID"]: node for node in self.ray.nodes()}
        ids = self.ray.get([actor.node.remote() for actor in self.pool.actors], timeout=60)
        return "Network SUT: " + ", ".join(f"worker {i} on {node_label(nodes.get(node_id, {'NodeID': node_id}))}"
                                           for i, node_id in enumerate(ids))

    # ---- dispatch (under the lock) ----------------------------------------------------------------------------------
    def _pump(self) -> None:
        while self._pending and self._failure is None:
            w = self._free_worker()
            if w is None:
                return
            work = self._take(self._limit - self._in_flight[w])
            try:
                self._send(w, work)
            except Exception as exc:   # noqa: BLE001 - a worker Ray cannot reach any more
                self._fail(w, exc)
                return

    def _free_worker(self) -> Optional[int]:
        """The worker with the fewest in flight below the limit, ties in turn; None when all are full."""
        n, best = len(self._in_flight), None
        for k in range(n):
            i = (self._next + k) % n
            if self._in_flight[i] < self._limit and (best is None or self._in_flight[i] < self._in_flight[best]):
                best = i
        if best is not None:
            self._next = (best + 1) % n
        return best

    def _take(self, room: int) -> Work:
        """The next call's samples: the oldest pending batch, joined with the ones behind it while they fit
        (not with --ship_samples); LLMs: up to `room` samples (the worker's free sequences)."""
        if self.generative:
            ids, indices = self._pending.popleft()
            take = min(room, self.plan.max_batch)
            if len(ids) > take:
                self._pending.appendleft(Work(ids[take:], indices[take:]))
                return Work(ids[:take], indices[:take])
            return Work(ids, indices)
        ids, indices = self._pending.popleft()
        while not self.ship and self._pending and len(ids) + len(self._pending[0].ids) <= self.plan.max_batch:
            more = self._pending.popleft()
            ids, indices = ids + more.ids, indices + more.indices
        return Work(ids, indices)

    def _send(self, w: int, work: Work) -> None:
        actor = self.pool.actors[w]
        store = self.plan.worker.store
        if self.generative:
            prompts = [self.plan.worker.prompt(i) for i in work.indices] if self.ship else None
            ref = actor.admit.remote(work.ids, work.indices, prompts)
            self._in_flight[w] += len(work.ids)
            self._calls[w] += 1
            ref.future().add_done_callback(functools.partial(self._admitted, w))
            return
        if self.ship:
            at = np.asarray(store.slots(work.indices), dtype=np.int64)
            rows = {name: np.take(array, at, axis=0) for name, array in store.ram.items()}
            ref = actor.compute_rows.remote(work.indices, rows)
        else:
            ref = actor.compute.remote(work.indices)
        self._in_flight[w] += 1
        self._calls[w] += 1
        ref.future().add_done_callback(functools.partial(self._answered, w, work))

    # ---- completions (Ray's callback thread, the event readers) ------------------------------------------------------
    def _answered(self, w: int, work: Work, future) -> None:
        try:
            buffer, spans, busy = future.result()
        except BaseException as exc:   # noqa: BLE001 - the run ends with the worker's reason
            self._fail(w, exc)
            return
        with self._lock:
            if self._failure:
                return
            self._in_flight[w] -= 1
            self._served[w] += len(work.ids)
        try:
            self.responder.answered(Answer(work.ids, Encoded(buffer, spans)))
        except BaseException as exc:   # noqa: BLE001
            self._fail(None, exc)
            return
        self.stats.add(1, busy)
        with self._lock:
            self._outstanding -= len(work.ids)
            self._pump()
            self._lock.notify_all()

    def _admitted(self, w: int, future) -> None:
        try:
            future.result()
        except BaseException as exc:   # noqa: BLE001
            self._fail(w, exc)

    def _read(self, w: int, stream) -> None:
        """One LLM worker's events, in order: first tokens before their answers, as the worker made them."""
        ray = self.ray
        try:
            for ref in stream:
                for event in ray.get(ref):
                    kind = event[0]
                    if kind == "first":
                        self.responder.first_tokens(event[1], event[2])
                    elif kind == "answer":
                        _, ids, buffer, spans, n_tokens = event
                        self.responder.answered(Answer(ids, Encoded(buffer, spans), n_tokens))
                        with self._lock:
                            self._in_flight[w] -= len(ids)
                            self._served[w] += len(ids)
                            self._outstanding -= len(ids)
                            self._pump()
                            self._lock.notify_all()
                    elif kind == "stats":
                        self.stats.add(event[1], event[2], event[3])
                    elif kind == "error":
                        self._fail(w, SUTFailure(event[1]))
                        return
        except BaseException as exc:   # noqa: BLE001 - the stream broke: the worker or its node died
            self._fail(w, exc)

    def _fail(self, w: Optional[int], exc: BaseException) -> None:
        where = ""
        if w is not None:
            info = self.pool.infos[w]
            where = f"worker {w} on node {info.node} (pid {info.pid}): "
        with self._lock:
            if self._failure is None:
                self._failure = where + failure_reason(exc)
            self._lock.notify_all()
