"""Shards on a Dask cluster (the optional ``cluster`` extra: ``dask[distributed]``).

The client connects to a running scheduler, sends the guard once to every worker as a
worker plugin (workers that join later get it too), then submits shards through the
client's ``concurrent.futures`` executor. Dask runs again the tasks of a worker that
died; a task that kills its workers again and again comes back as ``KilledWorker`` and
the engine checks that shard one message at a time.
"""

from __future__ import annotations

import asyncio
import importlib
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from leakguard.batch._context import ContextRef, Recipe, install, uninstall
from leakguard.batch._engine import ClusterError
from leakguard.core import Lang

__all__ = ["DaskCluster"]

# Dask's client is used through a few calls only, typed here as it is documented.
_distributed: Any = importlib.import_module("distributed")
_KilledWorker: type[Exception] = importlib.import_module("distributed.scheduler").KilledWorker

_CONNECT_SECONDS = 10.0
# Longest wait for the scheduler while leaving it.
_CLOSE_SECONDS = 5.0
_WORKERS_SECONDS = 30.0


def _version() -> str:
    from leakguard import __version__

    return __version__


class DaskCluster:
    """The shards of a run on a Dask cluster, by scheduler address or client."""

    isolate = False

    def __init__(self, cluster: Any, token: str, recipe: Recipe) -> None:
        self._own = isinstance(cluster, str)
        self.client: Any = _connect(cluster) if isinstance(cluster, str) else cluster
        try:
            self._prepare(token, recipe)
        except BaseException:
            if self._own:
                self.client.close()
            raise
        self.ref = ContextRef(token)
        self._token = token
        self._empty_since: float | None = None
        self._executor = self.client.get_executor(pure=False)

    def _prepare(self, token: str, recipe: Recipe) -> None:
        address = self.client.scheduler.address
        try:
            self.client.wait_for_workers(1, timeout=_WORKERS_SECONDS)
        except (TimeoutError, OSError):
            raise ClusterError(
                f"{address}: no Dask worker joined the scheduler within "
                f"{_WORKERS_SECONDS:.0f} s; start some with: dask worker {address}",
                fr=f"{address} : aucun worker Dask n'a rejoint l'ordonnanceur en "
                f"{_WORKERS_SECONDS:.0f} s ; lancez-en avec : dask worker {address}",
            ) from None
        try:
            versions = self.client.run(_version)
        except Exception as exc:
            raise ClusterError(
                f"{address}: the Dask workers cannot run leakguard "
                f"({type(exc).__name__}); install it on every worker.",
                fr=f"{address} : les workers Dask ne peuvent pas exécuter leakguard "
                f"({type(exc).__name__}) ; installez-le sur chaque worker.",
            ) from None
        mine = _version()
        other = sorted({v for v in versions.values() if v != mine})
        if other:
            raise ClusterError(
                f"{address}: the Dask workers run leakguard {', '.join(other)}, this "
                f"machine {mine}; install the same version everywhere.",
                fr=f"{address} : les workers Dask ont leakguard {', '.join(other)}, cette "
                f"machine {mine} ; installez la même version partout.",
            )
        self.client.register_plugin(_ContextPlugin(token, recipe), name=token)
        self.slots = max(1, sum(self.client.nthreads().values()))

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Future[Any]:
        future: Future[Any] = self._executor.submit(fn, *args)
        return future

    def lost(self, exc: BaseException) -> bool:
        return isinstance(exc, _KilledWorker)

    def renew(self) -> None:
        return None

    def stalled(self, lang: Lang) -> str | None:
        """Whether every worker has been gone for :data:`_WORKERS_SECONDS` (a poison
        message killed them all, their machines stopped): nothing would ever run."""
        try:
            workers = len(self.client.nthreads())
        except Exception:  # the scheduler itself is gone
            workers = 0
        now = time.monotonic()
        if workers:
            self._empty_since = None
            return None
        if self._empty_since is None:
            self._empty_since = now
        if now - self._empty_since < _WORKERS_SECONDS:
            return None
        if lang == "fr":
            return (
                f"non vérifié : plus aucun worker Dask dans la grappe depuis "
                f"{_WORKERS_SECONDS:.0f} s"
            )
        return f"not checked: no Dask worker left in the cluster for {_WORKERS_SECONDS:.0f} s"

    def close(self, *, cancel: bool) -> None:
        def undo() -> None:
            try:
                if cancel:
                    self._executor.shutdown(wait=False)  # cancels what is still pending
                self.client.unregister_worker_plugin(self._token)
            except Exception:  # the cluster may be gone already: nothing left to undo
                pass

        # Each call waits on the scheduler, without a time limit of its own: a busy or
        # lost scheduler must not keep the command from ending (after Ctrl-C above all).
        undoing = threading.Thread(target=undo, name="leakguard-cluster-close", daemon=True)
        undoing.start()
        undoing.join(_CLOSE_SECONDS)
        if self._own:
            self.client.close(timeout=_CLOSE_SECONDS)


def _connect(address: str) -> Any:
    _probe(address)
    try:
        return _distributed.Client(address, timeout=_CONNECT_SECONDS, set_as_default=False)
    except Exception as exc:
        raise _unreachable(address, exc) from None


def _probe(address: str) -> None:
    """Shake hands with the scheduler before making a client: a client that could not
    connect lingers and complains when the program ends; this leaves nothing behind.
    (A ``tls://`` scheduler needs the client's certificates: the client tries alone.)"""
    if address.startswith("tls://"):
        return
    scheme, _, rest = address.rpartition("://")
    if scheme in ("", "tcp"):
        host, colon, port = rest.rpartition(":")
        if not colon or rest.endswith("]"):
            host, port = rest, "8786"  # Dask's own default
        try:  # a refused or unreachable port answers at once, without Dask's retries
            socket.create_connection((host.strip("[]"), int(port)), _CONNECT_SECONDS).close()
        except (OSError, ValueError) as exc:
            raise _unreachable(address, exc) from None
    connect = importlib.import_module("distributed.comm").connect

    async def knock() -> None:
        comm = await connect(address, timeout=_CONNECT_SECONDS)
        await comm.close()

    try:
        asyncio.run(asyncio.wait_for(knock(), _CONNECT_SECONDS))
    except Exception as exc:  # refused, unreachable, or something else answering there
        raise _unreachable(address, exc) from None


def _unreachable(address: str, exc: BaseException) -> ClusterError:
    if isinstance(exc, TimeoutError):
        why, pourquoi = "no answer", "pas de réponse"
    elif isinstance(exc, OSError):
        why = pourquoi = exc.strerror or type(exc).__name__
    else:
        why, pourquoi = "what answers is not a Dask scheduler", "ce qui répond n'en est pas un"
    return ClusterError(
        f"{address}: cannot reach the Dask scheduler ({why}); start it with: dask scheduler",
        fr=f"{address} : impossible de joindre l'ordonnanceur Dask ({pourquoi}) ; lancez-le "
        "avec : dask scheduler",
    )


class _ContextPlugin(_distributed.WorkerPlugin):  # type: ignore[misc]
    """Builds the run's guard once on each worker, and drops it when the run ends."""

    def __init__(self, token: str, recipe: Recipe) -> None:
        self.token = token
        self.recipe = recipe

    def setup(self, worker: Any) -> None:
        install(self.token, self.recipe)

    def teardown(self, worker: Any) -> None:
        uninstall(self.token)
