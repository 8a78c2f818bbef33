"""``--cluster`` on a real Dask cluster: a scheduler and two workers started as programs
on loopback. The cluster gives the answers of a local run for check, affected and
learn; a worker killed mid-run loses no message and counts none twice; Ctrl-C on the
client cancels the work on the cluster.

Every command runs as a user runs it (a ``leakguard`` process). The workers and the
local runs share one environment without the OCR program, so that pictures are
reported unread at once on both sides instead of taking most of the time.
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path
from typing import Any

import pytest

from batch_factory import DOCTOR, clinic_message, mixed_archive, write_mbox
from leakguard.archives import iter_messages
from leakguard.correspondents._store import Tally
from pst_sample import SampleUnavailable, enron_pst

distributed = pytest.importorskip("distributed")

ENV = {
    **os.environ,
    "PATH": str(Path(sys.executable).parent),  # no tesseract: OCR says no_ocr at once
    "LEAKGUARD_FINGERPRINT_KEY": "cluster-test-key",
    "LANG": "en_GB.UTF-8",
}
ENV.pop("LC_ALL", None)


@dataclass
class Cluster:
    """A scheduler and its workers, each a ``dask`` program with its log file."""

    folder: Path
    address: str = ""
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, name: str, *args: str) -> None:
        log = (self.folder / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(
            [sys.executable, "-m", "dask", *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.folder,  # not the tests' folder: relative paths do not reach it
            env=ENV,
        )
        log.close()

    def worker(self, name: str) -> None:
        self.start(
            name,
            "worker",
            self.address,
            "--nthreads",
            "1",
            "--no-nanny",
            "--no-dashboard",
            "--name",
            name,
            "--local-directory",
            str(self.folder / name),
        )

    def client(self) -> Any:
        return distributed.Client(self.address, timeout=20, set_as_default=False)

    def wait_for_workers(self, n: int) -> None:
        with self.client() as client:
            client.wait_for_workers(n, timeout=60)

    def stop(self) -> None:
        # A throwaway cluster: the workers are not given time to hand their data over.
        for process in self.processes.values():
            if process.poll() is None:
                process.kill()
        for process in self.processes.values():
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = Cluster(tmp_path_factory.mktemp("dask"))
    found = c.folder / "scheduler.json"
    try:
        c.start(
            "scheduler",
            "scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--no-dashboard",
            "--scheduler-file",
            str(found),
        )
        deadline = time.monotonic() + 30
        while not found.is_file() and time.monotonic() < deadline:
            time.sleep(0.1)
        c.address = json.loads(found.read_text())["address"]
        c.worker("w1")
        c.worker("w2")
        c.wait_for_workers(2)
        yield c
    finally:
        c.stop()


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """An mbox, a Maildir, a folder of .eml and a PST: a Sent folder export."""
    try:
        pst = enron_pst()
    except SampleUnavailable as exc:
        pytest.fail(str(exc))
    folder = tmp_path_factory.mktemp("archive")
    return [str(p) for p in mixed_archive(folder, 100)] + [str(pst)]


def leakguard(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "leakguard.cli", *args],
        capture_output=True,
        text=True,
        env=ENV,
        cwd=cwd,
        timeout=120,
        check=False,
    )


def _answers(stdout: str) -> list[tuple[str, str | None, list[str]]]:
    return [
        (m["source"], m.get("action", m.get("error")), sorted(f["kind"] for f in m["findings"]))
        for m in json.loads(stdout)["messages"]
    ]


@pytest.fixture(scope="module")
def local(archive: list[str]) -> subprocess.CompletedProcess[str]:
    """``check --jobs 2`` of the archive: the answers a cluster must give."""
    return leakguard("check", "--format", "json", "--jobs", "2", *archive)


def test_check_on_the_cluster_gives_the_actions_of_local_processes(
    cluster: Cluster, archive: list[str], local: subprocess.CompletedProcess[str]
) -> None:
    remote = leakguard("check", "--format", "json", "--cluster", cluster.address, *archive)
    assert local.returncode == remote.returncode == 1, remote.stderr
    assert remote.stderr == ""
    answers = _answers(local.stdout)
    assert len(answers) == 100 + 71
    assert _answers(remote.stdout) == answers


def test_file_urls_read_by_the_workers_give_the_answers_of_paths(
    cluster: Cluster, archive: list[str], local: subprocess.CompletedProcess[str]
) -> None:
    urls = [f"file://{p}" for p in archive[:3]]  # the mbox, the Maildir, the .eml folder
    remote = leakguard("check", "--format", "json", "--cluster", cluster.address, *urls)
    assert remote.returncode == 1 and remote.stderr == "", remote.stderr
    answers = _answers(remote.stdout)
    assert all(source.startswith("file:///") for source, _, _ in answers)
    paths = [(s.removeprefix("file://"), a, k) for s, a, k in answers]
    assert paths == _answers(local.stdout)[:100]


def test_affected_and_learn_on_the_cluster_give_the_local_csv_and_store(
    cluster: Cluster, archive: list[str], tmp_path: Path
) -> None:
    from leakguard import Guard

    where = ("--jobs", "2"), ("--cluster", cluster.address, "--shard-size", "8")
    runs = [leakguard("affected", *archive[:3], "--recipient", DOCTOR, *w) for w in where]
    assert [r.returncode for r in runs] == [1, 1], runs[1].stderr
    assert runs[0].stdout == runs[1].stdout and runs[0].stderr == runs[1].stderr
    rows = list(csv.DictReader(io.StringIO(runs[1].stdout)))
    assert rows and all(r["kind"] == "nir" for r in rows)

    stores = [tmp_path / "local.db", tmp_path / "cluster.db"]
    for w, store in zip(where, stores, strict=True):
        done = leakguard("learn", *archive[:3], "-o", str(store), "--format", "json", *w)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["learned"] == 100
    assert Tally.load(stores[0]) == Tally.load(stores[1])
    # The same decisions with either store: a look-alike of the doctor written to often.
    probe = clinic_message(4).replace(b"<dr.martin@", b"<dr.martn@")
    verdicts = [Guard(correspondents=store).check(probe) for store in stores]
    assert verdicts[0] == verdicts[1]
    assert "lookalike_recipient" in verdicts[0].kinds()


# Run on each worker: count how many times a guard is built from its recipe there.
_COUNT_BUILDS = """
from leakguard.batch import _context
if not hasattr(_context, "BUILDS"):
    build = _context.Recipe.build
    def counted(self):
        _context.BUILDS += 1
        return build(self)
    _context.Recipe.build = counted
_context.BUILDS = 0
"""


def test_the_guard_goes_to_each_worker_once_with_its_budget_and_progress_follows(
    cluster: Cluster, archive: list[str]
) -> None:
    from dataclasses import replace

    from leakguard import Guard, batch

    guard = Guard()
    # A time budget spent at once: the guard built on the workers keeps the client's.
    guard.limits = replace(guard.limits, max_seconds=1e-9)
    events: list[object] = []
    with cluster.client() as client:
        client.run(lambda: exec(_COUNT_BUILDS, {}))
        outcomes = batch.check(
            archive[:3], guard=guard, cluster=client, shard_size=8, progress=events.append
        )
        for o in outcomes:
            events.append(o)
        builds = client.run(lambda: import_module("leakguard.batch._context").BUILDS)
    done = [e for e in events if isinstance(e, int)]
    checked = [e for e in events if not isinstance(e, int)]
    assert len(checked) == sum(done) == 100
    assert all("timeout" in {f.detail for f in o.verdict.findings} for o in checked)
    # Thirteen shards, a guard built once on each worker: not once per shard or message.
    assert len(done) >= 12
    assert sorted(builds.values()) == [1, 1]
    # The count grows as the cluster's tasks finish, not all at once at the end.
    first_result = next(i for i, e in enumerate(events) if not isinstance(e, int))
    assert 0 < sum(e for e in events[:first_result] if isinstance(e, int)) < 100


def _check_on(cluster: Cluster, archive: list[str], *, shard_size: int) -> subprocess.Popen[bytes]:
    """``leakguard check`` of the archive on the cluster, started and left running."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "leakguard.cli",
            "check",
            "--format",
            "json",
            "--cluster",
            cluster.address,
            "--shard-size",
            str(shard_size),
            *archive,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=ENV,
    )


def _tasks(client: Any) -> int:
    return int(client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.tasks)))


def _busy(client: Any, worker: str | None = None, timeout: float = 60) -> None:
    """Wait until the cluster (or one worker) is running a task of the run."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        processing = client.processing()
        names = {a: w["name"] for a, w in client.scheduler_info()["workers"].items()}
        if any(keys and (worker is None or names[a] == worker) for a, keys in processing.items()):
            return
        time.sleep(0.05)
    pytest.fail("the run never reached the cluster")


def test_ctrl_c_on_the_client_cancels_the_cluster_work(
    cluster: Cluster, archive: list[str]
) -> None:
    with cluster.client() as client:
        run = _check_on(cluster, archive, shard_size=2)
        _busy(client)
        time.sleep(0.5)
        stopped = time.monotonic()
        run.send_signal(signal.SIGINT)
        try:
            out, err = run.communicate(timeout=30)
        finally:
            if run.poll() is None:  # left running: stopped here, not by a later test's GC
                run.kill()
                run.communicate()
        took = time.monotonic() - stopped
        assert run.returncode == 130, err
        assert took < 3, took
        assert err.decode().startswith("leakguard: interrupted (Ctrl-C): the ")
        assert err.count(b"\n") == 1 and b"Traceback" not in err
        doc = json.loads(out)
        assert doc["partial"] is True and 0 < len(doc["messages"]) < 171
        # Nothing is left to run on the cluster, and the guard is gone from the workers.
        deadline = time.monotonic() + 10
        while _tasks(client) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _tasks(client) == 0
        # (A lambda travels by value: the workers cannot import this test module.)
        installed = client.run(lambda: list(import_module("leakguard.batch._context")._INSTALLED))
        assert all(v == [] for v in installed.values())


def test_a_worker_killed_mid_run_loses_no_message_and_counts_none_twice(
    cluster: Cluster, archive: list[str], local: subprocess.CompletedProcess[str]
) -> None:
    with cluster.client() as client:
        run = _check_on(cluster, archive, shard_size=4)
        _busy(client, "w1")
        time.sleep(0.3)
        killed = cluster.processes["w1"]
        killed.send_signal(signal.SIGKILL)
        killed.wait(10)
        out, err = run.communicate(timeout=120)
        assert run.returncode == local.returncode == 1, err
        answers = _answers(out.decode())
        assert answers == _answers(local.stdout)
        sources = [a[0] for a in answers]
        assert len(sources) == len(set(sources)) == 171
        assert len(client.scheduler_info()["workers"]) == 1
    cluster.worker("w1")
    cluster.wait_for_workers(2)


def test_a_shard_the_workers_cannot_read_is_reported_and_fails_the_run(
    cluster: Cluster, tmp_path: Path
) -> None:
    write_mbox(tmp_path / "Sent.mbox", [clinic_message(i) for i in range(3)])
    # A relative path: found here, not from the workers' own folder.
    done = leakguard(
        "check", "--format", "json", "--cluster", cluster.address, "Sent.mbox", cwd=tmp_path
    )
    assert done.returncode == 2
    doc = json.loads(done.stdout)["messages"]
    assert doc == [
        {
            "source": "Sent.mbox",
            "error": "Sent.mbox: cannot read this archive (No such file or directory).",
            "findings": [],
        }
    ]


def test_a_cluster_left_without_workers_ends_the_run_with_what_was_not_checked(
    cluster: Cluster, archive: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from leakguard import Guard, batch
    from leakguard.batch import _cluster, _engine

    monkeypatch.setattr(_cluster, "_WORKERS_SECONDS", 2.0)
    monkeypatch.setattr(_engine, "_STALL_POLL", 0.5)
    mbox = archive[0]
    got = []
    with cluster.client() as client:
        outcomes = batch.check([mbox], guard=Guard(), cluster=client, shard_size=2)
        for o in outcomes:
            got.append(o)
            if len(got) == 4:  # under way: every worker stops (no nanny restarts them)
                for name in ("w1", "w2"):
                    cluster.processes[name].kill()
                    cluster.processes[name].wait(10)
    checked = [o for o in got if o.error is None]
    errors = [o for o in got if o.error is not None]
    assert 4 <= len(checked) < 50
    # The rest of the mbox is said not checked, once, instead of waited for forever; the
    # messages checked keep the numbers of the whole file.
    assert [(o.source, o.error) for o in errors] == [
        (mbox, "not checked: no Dask worker left in the cluster for 2 s")
    ]
    whole = [m.source for m in iter_messages(Path(mbox))]  # number and Message-ID
    assert [o.source for o in checked] == [s for s in whole if s in {o.source for o in checked}]
    cluster.worker("w1")
    cluster.worker("w2")
    cluster.wait_for_workers(2)
