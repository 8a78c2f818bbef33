"""Reading a file a person names within a limit (``leakguard._files``): only a regular
file, no more of it than the limit and a byte."""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

import pytest

from leakguard._files import NotRegular, TooLarge, read_limited


def test_a_file_within_the_limit_is_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_bytes(b"x" * 100)
    assert read_limited(path, 100) == b"x" * 100


def test_a_file_past_the_limit_is_too_large(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    with path.open("wb") as fh:
        fh.truncate(1 << 40)  # a terabyte, sparse: no more than the limit is read
    with pytest.raises(TooLarge):
        read_limited(path, 1000)


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/null"])
def test_a_device_that_is_no_terminal_is_not_read(device: str) -> None:
    with pytest.raises(NotRegular):
        read_limited(device, 1000)


def test_a_pipe_is_read_as_far_as_the_limit(tmp_path: Path) -> None:
    # What a program writes (``/dev/stdin``, a named pipe): read, and no further than the
    # limit and a byte however much it writes.
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)

    def write(size: int) -> None:
        with contextlib.suppress(BrokenPipeError), pipe.open("wb") as fh:
            fh.write(b"x" * size)

    writer = threading.Thread(target=write, args=(500,))
    writer.start()
    assert read_limited(pipe, 1000) == b"x" * 500
    writer.join()
    writer = threading.Thread(target=write, args=(1 << 20,))
    writer.start()
    with pytest.raises(TooLarge):
        read_limited(pipe, 1000)
    writer.join()


def test_a_folder_and_a_missing_file_are_the_usual_errors(tmp_path: Path) -> None:
    with pytest.raises(IsADirectoryError):
        read_limited(tmp_path, 1000)
    with pytest.raises(FileNotFoundError):
        read_limited(tmp_path / "missing", 1000)


def test_the_patient_registers_that_are_devices_are_refused_on_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from cli_helpers import run
    from leakguard.core import Fingerprinter
    from leakguard.errors import LeakguardError
    from leakguard.register import PatientRegister

    examples = Path(__file__).resolve().parent.parent / "examples"
    argv = ["--lang", "fr", "affected", "--domain", "x.fr", "--register", "/dev/zero"]
    code, _, err = run(capsys, *argv, str(examples))
    assert code == 2 and err.count("\n") == 1, err
    assert "/dev/zero" in err and "ce n'est pas un fichier ordinaire" in err, err
    with pytest.raises(LeakguardError) as caught:
        PatientRegister.load("/dev/zero", fingerprinter=Fingerprinter(b"k"))
    assert "ce n'est pas un fichier ordinaire" in caught.value.message("fr")


def test_a_batch_with_a_larger_part_limit_reads_a_larger_document(tmp_path: Path) -> None:
    # What is read of a document given to a batch is bounded by the most a caller may
    # ask of it, not by the default part limit: a NIR after 55 MB of text is found when
    # the caller's limits take the whole file, and the file is said too large otherwise.
    from helpers import NIR
    from leakguard import batch
    from leakguard.extract import Limits

    big = tmp_path / "export.txt"
    big.write_bytes(b"ligne sans chiffre\n" * ((55 << 20) // 19) + f"NIR {NIR}\n".encode())

    def kinds(limits: Limits | None) -> list[tuple[str, str | None]]:
        (outcome,) = batch.scan([str(big)], limits=limits, jobs=1)
        return [(f.kind, f.detail) for f in outcome.findings]

    assert kinds(None) == [("unscannable_attachment", "too_large")]
    wide = Limits(
        max_part_bytes=100 << 20,
        max_total_bytes=200 << 20,
        max_text_chars=100_000_000,
        max_seconds=120,
    )
    assert kinds(wide) == [("nir", None)]
