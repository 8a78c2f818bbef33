"""``leakguard health-directory fetch`` against a real HTTP(S) server on loopback.

The server serves files of the extraction's shape, whole or cut, and fails in the ways a
real one does. Whatever goes wrong, the file in place is left exactly as it was and no
temporary file stays behind.
"""

from __future__ import annotations

import http.server
import io
import socket
import ssl
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest

from cli_helpers import run
from leakguard.recipients import HealthDirectory, HealthDirectoryFetchError, fetch_health_directory
from mssante_factory import KNOWN, ZIP_MEMBER, lines, write_extraction
from serve_helpers import self_signed

ROWS = 400
MIN = 100  # --min-rows for these small files

Reply = Callable[[http.server.BaseHTTPRequestHandler], None]


def _text(rows: int = ROWS) -> bytes:
    return ("\n".join(lines(rows)) + "\n").encode("utf-8")


def _zip(data: bytes, stamp: str = "202405061432") -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(ZIP_MEMBER.format(stamp=stamp), data)
    return out.getvalue()


def body(data: bytes, *, headers: dict[str, str] | None = None, status: int = 200) -> Reply:
    def reply(h: http.server.BaseHTTPRequestHandler) -> None:
        h.send_response(status)
        h.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(data)

    return reply


def cut(data: bytes) -> Reply:
    """Announces the whole length, sends half, hangs up."""

    def reply(h: http.server.BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data[: len(data) // 2])
        h.wfile.flush()
        h.close_connection = True

    return reply


def unannounced(data: bytes) -> Reply:
    """No Content-Length: the end of the connection is the end of the file."""

    def reply(h: http.server.BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Connection", "close")
        h.end_headers()
        h.wfile.write(data)
        h.close_connection = True

    return reply


def trickle(data: bytes, pause: float = 0.05) -> Reply:
    """Sends the file a little at a time, never silent long enough to time out."""

    def reply(h: http.server.BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        for i in range(0, len(data), 2000):
            h.wfile.write(data[i : i + 2000])
            h.wfile.flush()
            time.sleep(pause)

    return reply


def redirect(to: str) -> Reply:
    def reply(h: http.server.BaseHTTPRequestHandler) -> None:
        h.send_response(302)
        h.send_header("Location", to)
        h.send_header("Content-Length", "0")
        h.end_headers()

    return reply


class Server:
    """A threading HTTP(S) server on 127.0.0.1 answering ``routes[path](handler)``."""

    def __init__(self, routes: dict[str, Reply], tls: dict[str, str] | None = None) -> None:
        self.routes = routes
        self.hits: list[str] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                server.hits.append(self.path)
                route = server.routes.get(self.path.partition("?")[0])
                try:
                    if route is None:
                        body(b"not found", status=404)(self)
                    else:
                        route(self)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client gave up: as intended

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        scheme = "http"
        if tls is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(tls["certfile"], tls["keyfile"])
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
            scheme = "https"
        self.base = f"{scheme}://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


GOOD = _text()
STAMPED = "Extraction_Correspondance_MSSante_202405061432.txt"


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    wrong_header = GOOD.replace(b"Adresse BAL", b"Adresse mail", 1)
    small = _text(40)
    damaged = bytearray(_zip(GOOD))
    damaged[300:340] = b"\x00" * 40
    cut_line = GOOD[: GOOD.rindex(b"\n", 0, len(GOOD) - 1) + 30]
    routes: dict[str, Reply] = {
        "/ok.txt": body(GOOD, headers={"Last-Modified": "Mon, 06 May 2024 12:32:00 GMT"}),
        "/named": body(GOOD, headers={"Content-Disposition": f'attachment; filename="{STAMPED}"'}),
        "/ok.zip": body(_zip(GOOD), headers={"Content-Type": "application/zip"}),
        "/cut.txt": cut(GOOD),
        "/cut.zip": cut(_zip(GOOD)),
        "/cut-line.txt": unannounced(cut_line),
        "/columns.txt": body(wrong_header),
        "/few.txt": body(small),
        "/damaged.zip": body(bytes(damaged)),
        "/error": body(b"oops", status=500),
        "/redirect": redirect("/named"),
        "/huge": body(b"x" * 5000),
        "/trickle": trickle(GOOD),
    }
    with Server(routes) as s:
        yield s


@pytest.fixture
def current(tmp_path: Path) -> Path:
    """The file in place before the update: an older, valid extraction."""
    path = write_extraction(tmp_path / "mssante.txt", 300, seed=3)
    HealthDirectory.load(path)  # with its cache, as after an earlier update
    return path


def snapshot(path: Path) -> tuple[bytes, int]:
    return path.read_bytes(), path.stat().st_mtime_ns


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".download"))


# --------------------------------------------------------------------------- success


def test_text_replaces_the_file_with_the_servers_date(server: Server, current: Path) -> None:
    done = fetch_health_directory(current, url=server.base + "/ok.txt", min_rows=MIN)
    assert current.read_bytes() == GOOD
    assert (done.form, done.rows, done.bad_rows) == ("txt", ROWS - 5, 5)
    # Last-Modified is GMT; the file's time and the directory's date follow it.
    when = datetime(2024, 5, 6, 12, 32).replace(tzinfo=None)
    assert done.generated_from == "last-modified"
    assert abs(current.stat().st_mtime - done.generated.timestamp()) < 1
    d = HealthDirectory.load(current)
    assert d.cache == "loaded"  # made by fetch itself
    assert d.generated == done.generated and d.generated_from == "mtime"
    assert abs((d.generated - when).total_seconds()) <= 14 * 3600  # the local offset only
    assert KNOWN[0].address in d
    assert leftovers(current.parent) == []


def test_date_from_the_served_file_name_and_through_a_redirect(
    server: Server, current: Path
) -> None:
    done = fetch_health_directory(current, url=server.base + "/redirect", min_rows=MIN)
    assert done.generated == datetime(2024, 5, 6, 14, 32) and done.generated_from == "name"
    assert HealthDirectory.load(current).generated == datetime(2024, 5, 6, 14, 32)


def test_zip_is_kept_as_a_zip_and_dated_by_its_member(server: Server, tmp_path: Path) -> None:
    target = tmp_path / "mssante.zip"
    done = fetch_health_directory(target, url=server.base + "/ok.zip", min_rows=MIN)
    assert done.form == "zip" and zipfile.is_zipfile(target)
    d = HealthDirectory.load(target)
    assert d.generated == datetime(2024, 5, 6, 14, 32) and d.generated_from == "name"
    assert d.rows == ROWS - 5


def test_cli_fetch_says_what_it_did(
    server: Server, current: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(
        capsys,
        "--lang",
        "fr",
        "health-directory",
        "fetch",
        "-o",
        str(current),
        "--url",
        server.base + "/ok.zip",
        "--min-rows",
        str(MIN),
    )
    assert code == 0, err
    assert "annuaire MSSanté mis à jour" in out and "généré le 2024-05-06 14:32" in out
    assert "5 ligne(s) inutilisable(s)" in out
    assert err == ""


# --------------------------------------------------------------------------- failures


@pytest.mark.parametrize(
    ("path", "reason", "said"),
    [
        ("/cut.txt", "truncated", "cut short"),
        ("/cut.zip", "truncated", "cut short"),
        ("/cut-line.txt", "truncated", "last line is cut short"),
        ("/columns.txt", "format", "column 2 is 'Adresse mail'"),
        ("/few.txt", "too_few_rows", "at least 100 expected"),
        ("/damaged.zip", "format", "damaged"),
        ("/error", "http", "HTTP 500"),
        ("/missing", "http", "HTTP 404"),
    ],
)
def test_a_bad_download_leaves_the_file_as_it_was(
    server: Server, current: Path, path: str, reason: str, said: str
) -> None:
    before = snapshot(current)
    with pytest.raises(HealthDirectoryFetchError) as caught:
        fetch_health_directory(current, url=server.base + path, min_rows=MIN)
    assert caught.value.reason == reason
    assert said in str(caught.value), str(caught.value)
    assert str(caught.value).startswith(server.base + path) and ".download" not in str(caught.value)
    assert caught.value.message("fr") != str(caught.value)
    assert snapshot(current) == before
    assert leftovers(current.parent) == []
    assert HealthDirectory.load(current).cache == "loaded"  # the old cache still holds


def test_a_much_smaller_file_than_the_current_one_is_refused(
    server: Server, tmp_path: Path
) -> None:
    current = write_extraction(tmp_path / "mssante.txt", 1_000)
    HealthDirectory.load(current)
    before = snapshot(current)
    with pytest.raises(HealthDirectoryFetchError) as caught:
        fetch_health_directory(current, url=server.base + "/ok.txt", min_rows=MIN)
    assert caught.value.reason == "shrunk"
    assert snapshot(current) == before


def test_without_a_cache_the_current_file_is_counted(server: Server, tmp_path: Path) -> None:
    current = write_extraction(tmp_path / "mssante.txt", 1_000)
    before = snapshot(current)
    with pytest.raises(HealthDirectoryFetchError) as caught:
        fetch_health_directory(current, url=server.base + "/ok.txt", min_rows=MIN)
    assert caught.value.reason == "shrunk" and "995" in str(caught.value)
    assert snapshot(current) == before


def test_too_large_is_cut_off(server: Server, current: Path) -> None:
    before = snapshot(current)
    with pytest.raises(HealthDirectoryFetchError) as caught:
        fetch_health_directory(current, url=server.base + "/huge", max_bytes=1000)
    assert caught.value.reason == "too_large"
    assert snapshot(current) == before


def test_a_server_that_trickles_is_cut_off(server: Server, current: Path) -> None:
    before = snapshot(current)
    with pytest.raises(HealthDirectoryFetchError) as caught:
        fetch_health_directory(current, url=server.base + "/trickle", timeout=5, max_seconds=0.3)
    assert caught.value.reason == "timeout" and "longer than 0.3 s" in str(caught.value)
    assert snapshot(current) == before
    assert leftovers(current.parent) == []


def test_server_down(current: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    before = snapshot(current)
    code, out, err = run(
        capsys,
        "health-directory",
        "fetch",
        "-o",
        str(current),
        "--url",
        f"http://127.0.0.1:{port}/x",
    )
    assert code == 1 and out == ""
    assert "cannot reach the server" in err and f"{current} is unchanged." in err
    assert len(err.strip().splitlines()) == 2 and "Traceback" not in err
    assert snapshot(current) == before
    assert leftovers(current.parent) == []


def test_silent_server_times_out(current: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)  # accepts the connection, never answers
        port = s.getsockname()[1]
        with pytest.raises(HealthDirectoryFetchError) as caught:
            fetch_health_directory(current, url=f"http://127.0.0.1:{port}/", timeout=0.5)
    assert caught.value.reason in ("timeout", "unreachable")
    assert "0.5" in str(caught.value) or "timed out" in str(caught.value)


def test_usage_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "health-directory", "fetch", "-o", str(tmp_path / "no" / "x.txt"))
    assert code == 2 and "does not exist" in err
    bad_ca = tmp_path / "ca.pem"
    bad_ca.write_text("not a certificate", encoding="utf-8")
    code, _, err = run(
        capsys, "health-directory", "fetch", "-o", str(tmp_path / "x.txt"), "--ca-file", str(bad_ca)
    )
    assert code == 2 and "--ca-file" in err
    code, _, err = run(
        capsys, "health-directory", "fetch", "-o", str(tmp_path / "x.txt"), "--url", "ftp://x/y"
    )
    assert code == 1 and "http://" in err


# --------------------------------------------------------------------------- HTTPS


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return self_signed(tmp_path_factory.mktemp("tls"))


def test_https_needs_the_root_given_explicitly(
    tls: dict[str, str], server: Server, current: Path
) -> None:
    """As for the ANS's server, whose IGC-Santé root is in no usual trust store."""
    routes = {
        "/ok.zip": body(_zip(GOOD)),
        "/down": redirect(server.base + "/ok.zip"),  # HTTPS to plain HTTP
    }
    with Server(routes, tls=tls) as secure:
        before = snapshot(current)
        with pytest.raises(HealthDirectoryFetchError) as caught:
            fetch_health_directory(current, url=secure.base + "/ok.zip", min_rows=MIN)
        assert caught.value.reason == "unreachable" and "CERTIFICATE" in str(caught.value).upper()
        assert snapshot(current) == before
        with pytest.raises(HealthDirectoryFetchError) as caught:
            fetch_health_directory(
                current, url=secure.base + "/down", ca_file=tls["certfile"], min_rows=MIN
            )
        assert caught.value.reason == "http" and "plain HTTP" in str(caught.value)
        assert snapshot(current) == before
        done = fetch_health_directory(
            current, url=secure.base + "/ok.zip", ca_file=tls["certfile"], min_rows=MIN
        )
    assert done.form == "zip" and done.rows == ROWS - 5
    assert done.url.startswith("https://127.0.0.1:")


def test_query_strings_are_not_shown(server: Server, current: Path) -> None:
    with pytest.raises(HealthDirectoryFetchError) as caught:
        fetch_health_directory(current, url=server.base + "/error?key=s3cr3t")
    assert "s3cr3t" not in str(caught.value) and "s3cr3t" not in caught.value.message("fr")


def test_old_file_absent_is_fine(server: Server, tmp_path: Path) -> None:
    target = tmp_path / "first.txt"
    fetch_health_directory(target, url=server.base + "/ok.txt", min_rows=MIN, build_cache=False)
    assert target.read_bytes() == GOOD
    assert not (tmp_path / "first.txt.leakguard-cache").exists()
