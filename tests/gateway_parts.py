"""Real parts for the gateway tests and benchmark: a private Postfix, a sink SMTP server,
the ``leakguard`` commands run as a user runs them, and the messages sent through them.

The Postfix instance runs from its own configuration, queue and data folders, listens on
loopback only and relays everything to the sink; it is stopped at teardown.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import email.policy
import email.utils
import os
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import Envelope, Session

from leakguard.gateway import _milter_protocol as mp

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

POLICY = """\
[organisation]
internal_domains = ["clinic.fr"]

[actions]
iban = "block"
"""

SECURE = "dr.secure@hopital-exemple.fr"  # has a certificate in the folder
PLAIN = "dr.plain@cabinet-exemple.fr"  # has none

MIB = 1 << 20

POSTFIX = shutil.which("postfix") or "/usr/sbin/postfix"
POSTCONF = shutil.which("postconf") or "/usr/sbin/postconf"
SHARE = Path("/usr/share/postfix")
ETC = Path("/etc/postfix")


def _first(*paths: Path) -> Path:
    return next((p for p in paths if p.exists()), paths[-1])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def postfix_available() -> bool:
    return Path(POSTFIX).is_file() and os.geteuid() == 0


def require_postfix() -> None:
    if postfix_available():
        return
    if IN_CI:
        pytest.fail("Postfix must be installed and the tests run as root in CI (see .ci/run)")
    pytest.skip("Postfix is not installed here, or the tests do not run as root")


def make_message(
    body: str,
    *,
    to: str = PLAIN,
    lang: str | None = None,
    fault: str | None = None,
    subject: str = "Compte rendu",
    sender: str = "secretariat@clinic.fr",
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = email.utils.format_datetime(dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC))
    # A hex part: the audit masks long numbers, and Message-IDs of digits alone would
    # all look alike there.
    msg["Message-ID"] = make_msgid(idstring=secrets.token_hex(6), domain="clinic.fr")
    if fault:
        msg["X-Test-Fault"] = fault
    msg.set_content(body)
    if lang:  # after set_content, which drops every Content-* header
        msg["Content-Language"] = lang
    return msg


def raw(msg: EmailMessage) -> bytes:
    return msg.as_bytes(policy=email.policy.SMTP)


def split(data: bytes) -> tuple[list[tuple[str, str]], bytes]:
    head, _, body = data.partition(b"\r\n\r\n")
    parsed = message_from_bytes(head + b"\r\n\r\n", policy=email.policy.compat32)
    return [(k.lower(), " ".join(str(v).split())) for k, v in parsed.items()], body


@dataclass
class Command:
    """``leakguard milter`` or ``leakguard relay`` run as a user would, in its own process."""

    args: list[str]
    port: int
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    env: dict[str, str] | None = None  # the environment, when not this process's own

    def start(self) -> Command:
        with self.log.open("ab") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "leakguard.cli", *self.args],
                stdout=subprocess.DEVNULL,
                stderr=err,
                env=self.env,
            )
        try:
            wait_port(self.port, 30)
        except BaseException:
            self.stop()  # never left running behind a failed start
            raise
        return self

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


# ---------------------------------------------------------------------------- measuring


def memory(pid: int) -> tuple[int, int]:
    """Resident memory of ``pid`` now and at its peak (``VmRSS``, ``VmHWM``), in bytes."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return int(fields["VmRSS"].split()[0]) * 1024, int(fields["VmHWM"].split()[0]) * 1024


class SmtpPeer:
    """An SMTP client by hand, for what smtplib would not send (bare CR, bare LF lines)."""

    def __init__(self, port: int, *, source: str | None = None, host: str = "127.0.0.1") -> None:
        self.sock = socket.create_connection(
            (host, port), timeout=30, source_address=(source, 0) if source else None
        )
        self.buffer = b""
        self.greeting = self.reply()

    def reply(self) -> bytes:
        """One SMTP reply, all its lines."""
        lines = []
        while True:
            while b"\r\n" not in self.buffer:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return b"\r\n".join(lines) or b"(closed)"
                self.buffer += chunk
            line, _, self.buffer = self.buffer.partition(b"\r\n")
            lines.append(line)
            if line[3:4] != b"-":
                return b"\r\n".join(lines)

    def command(self, line: bytes) -> bytes:
        self.sock.sendall(line + b"\r\n")
        return self.reply()

    def close(self) -> None:
        self.sock.close()


# ---------------------------------------------------------------------------- milter peer


class MilterPeer:
    """The MTA's end of a milter connection, driven by hand over a real socket: what
    Postfix sends, and what only an attacker would."""

    def __init__(self, port: int, timeout: float = 60.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)

    def send(self, command: bytes, data: bytes = b"") -> None:
        self.sock.sendall(struct.pack(">I", len(data) + 1) + command + data)

    def reply(self) -> tuple[bytes, bytes]:
        (length,) = struct.unpack(">I", self._exactly(4))
        packet = self._exactly(length)
        return packet[:1], packet[1:]

    def final(self) -> tuple[bytes, bytes]:
        """The answer at end of message, past any progress packets and header edits."""
        while (reply := self.reply())[0] in (mp.PROGRESS, mp.ADDHEADER, mp.CHGHEADER):
            pass
        return reply

    def _exactly(self, n: int) -> bytes:
        data = bytearray()
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("the milter closed the connection")
            data += chunk
        return bytes(data)

    def negotiate(self) -> None:
        # Every event answered-or-not as Postfix asks (SMFIP_NR_*): the filter replies
        # only at end of message.
        self.send(mp.OPTNEG, struct.pack(">III", 6, 0x1FF, 0x1FFFFF))
        assert self.reply()[0] == mp.OPTNEG

    def message(self, headers: list[tuple[str, str]], body_size: int, rcpt: str) -> None:
        self.send(mp.MACRO, b"E" + b"i\0" + rcpt.encode()[:8] + b"\0")
        self.send(mp.RCPT, f"<{rcpt}>".encode() + b"\0")
        for name, value in headers:
            self.send(mp.HEADER, name.encode() + b"\0" + value.encode() + b"\0")
        self.send(mp.EOH)
        line = b"Compte rendu de consultation, suivi sans particularite.\r\n"
        piece = line * (65000 // len(line))
        sent = 0
        while sent < body_size:
            self.send(mp.BODY, piece)
            sent += len(piece)
        self.send(mp.BODYEOB)

    def closed_by_peer(self, timeout: float) -> bool:
        """Whether the milter closes the connection within ``timeout`` seconds."""
        self.sock.settimeout(timeout)
        try:
            while self.sock.recv(65536):
                pass
        except TimeoutError:
            return False
        except OSError:
            return True
        return True

    def close(self) -> None:
        self.sock.close()


# ---------------------------------------------------------------------------- sink


@dataclass(frozen=True)
class Arrival:
    """One message the sink accepted, with its envelope."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    smtputf8: bool
    mail_options: list[str]

    @property
    def message_id(self) -> str:
        return str(message_from_bytes(self.data, policy=SMTP).get("Message-ID", ""))


class _LongLines(SMTPServer):
    """A next hop that takes long lines, as Postfix does (it splits them)."""

    line_length_limit = 1 << 20


class _SinkController(Controller):
    def factory(self) -> SMTPServer:
        return _LongLines(self.handler, **self.SMTP_kwargs)


@dataclass
class Sink:
    """A sink SMTP server: stores what it accepts; faults are chosen per message.

    A message whose ``X-Test-Fault`` header is ``tempfail-once`` gets 451 the first time
    its Message-ID is seen, ``reject`` always gets 550, ``hang-once`` is held past the
    sender's timeout the first time and then refused with 451 (a hung server that never
    took the message). ``down`` (attribute) refuses every connection at the greeting.
    """

    port: int = 0
    received: list[Arrival] = field(default_factory=list)
    tls_context: Any = None
    hang_seconds: float = 3.0
    seen: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)
    controller: Controller | None = None

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        data = envelope.original_content or b""
        msg = message_from_bytes(data, policy=SMTP)
        fault = str(msg.get("X-Test-Fault", "")).strip()
        mid = str(msg.get("Message-ID", ""))
        with self.lock:
            first = mid not in self.seen
            self.seen.add(mid)
        if fault == "reject":
            return "550 5.7.1 sink refuses this message"
        if fault == "tempfail-once" and first:
            return "451 4.3.0 sink busy, try later"
        if fault == "hang-once" and first:
            await asyncio.sleep(self.hang_seconds)
            return "451 4.3.0 sink was hung"
        with self.lock:
            self.received.append(
                Arrival(
                    envelope.mail_from or "",
                    list(envelope.rcpt_tos),
                    data,
                    bool(envelope.smtp_utf8),
                    list(envelope.mail_options),
                )
            )
        return "250 2.0.0 stored"

    def start(self) -> Sink:
        self.port = self.port or free_port()
        self.controller = _SinkController(
            self,
            hostname="127.0.0.1",
            port=self.port,
            ready_timeout=15,
            enable_SMTPUTF8=True,
            decode_data=False,
            data_size_limit=50 * 1024 * 1024,
            tls_context=self.tls_context,
            require_starttls=self.tls_context is not None,
        )
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def message_ids(self) -> list[str]:
        with self.lock:
            return [a.message_id for a in self.received]

    def wait_for(self, count: int, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.received) >= count:
                    return
            time.sleep(0.05)


# ---------------------------------------------------------------------------- postfix


@dataclass
class PostfixInstance:
    """A private Postfix: submission on ``port`` with a milter, relaying to the sink."""

    root: Path
    port: int
    sink_port: int
    milter: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def config(self) -> Path:
        return self.root / "etc"

    def _postconf(self, *args: str) -> None:
        subprocess.run([POSTCONF, "-c", str(self.config), *args], check=True, capture_output=True)

    def setup(self) -> None:
        self.config.mkdir(parents=True)
        for d in ("queue", "data"):
            (self.root / d).mkdir()
        self.root.chmod(0o755)
        shutil.chown(self.root / "data", user="postfix")
        # The package's pristine files, not the machine's configuration (which, after
        # "No configuration" in debconf, may not exist at all).
        shutil.copy(_first(SHARE / "master.cf.dist", ETC / "master.cf"), self.config / "master.cf")
        (self.config / "main.cf").write_text("")
        maps = _first(SHARE / "dynamicmaps.cf", ETC / "dynamicmaps.cf")
        if maps.exists():
            shutil.copy(maps, self.config / "dynamicmaps.cf")
        settings = {
            "compatibility_level": "3.6",
            "queue_directory": str(self.root / "queue"),
            "data_directory": str(self.root / "data"),
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "myhostname": "leakguard-test.localdomain",
            "mydestination": "",
            "inet_interfaces": "loopback-only",
            "inet_protocols": "ipv4",
            "mynetworks": "127.0.0.0/8",
            "relayhost": f"[127.0.0.1]:{self.sink_port}",
            "smtpd_relay_restrictions": "permit_mynetworks, reject",
            "smtputf8_enable": "yes",
            "syslog_name": f"postfix-lgtest-{self.port}",
            "alias_maps": "",
            "alias_database": "",
            "local_recipient_maps": "",
            "smtp_dns_support_level": "disabled",
            "queue_run_delay": "1s",
            "minimal_backoff_time": "1s",
            "maximal_backoff_time": "2s",
            "default_process_limit": "60",
            "milter_default_action": "tempfail",
            "milter_protocol": "6",
            "milter_connect_timeout": "5s",
            "milter_command_timeout": "10s",
            "milter_content_timeout": "30s",
            "smtpd_milters": self.milter or "",
            "message_size_limit": str(20 * 1024 * 1024),
        }
        settings.update(self.extra)
        self._postconf(*(f"{k}={v}" for k, v in settings.items()))
        # The listening service on our own port; every daemon outside a chroot.
        self._postconf("-M#", "smtp/inet")
        self._postconf(
            "-M", f"127.0.0.1:{self.port}/inet=127.0.0.1:{self.port} inet n - n - - smtpd"
        )
        self._postconf("-F", "*/*/chroot = n")

    def start(self) -> PostfixInstance:
        self.setup()
        done = subprocess.run(
            [POSTFIX, "-c", str(self.config), "start"],
            capture_output=True,
            stdin=subprocess.DEVNULL,
            timeout=60,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(
                "postfix start failed: " + (done.stderr or done.stdout).decode(errors="replace")
            )
        wait_port(self.port)
        return self

    def stop(self) -> None:
        pid_file = self.root / "queue" / "pid" / "master.pid"
        try:
            pid = int(pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            pid = 0
        subprocess.run(
            [POSTFIX, "-c", str(self.config), "stop"],
            capture_output=True,
            stdin=subprocess.DEVNULL,
            timeout=60,
        )
        deadline = time.monotonic() + 10
        while pid and time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)


@contextlib.contextmanager
def postfix(sink_port: int, milter: str | None, **extra: str) -> Iterator[PostfixInstance]:
    """A started private Postfix; its folder (under /tmp, readable by the postfix user)
    is removed after it stops."""
    root = Path(tempfile.mkdtemp(prefix="leakguard-postfix-"))
    inst = PostfixInstance(root, free_port(), sink_port, milter, dict(extra))
    try:
        inst.start()
        yield inst
    finally:
        inst.stop()
        shutil.rmtree(root, ignore_errors=True)
