"""The gateway's small rules, on any input: the header reader that removes a forged
X-Leakguard, the relay's dot-stuffed stream, the masking of free text and locations, the
policy's answer for unread content, the password file, the runner's reservations."""

from __future__ import annotations

import asyncio
import re
import smtplib
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import IBAN, NAM, NIR, NIR_SPACED, NISS, RIB, SIN, leaked
from leakguard._headers import header_block, without_field
from leakguard.core import Location, mask_numbers
from leakguard.errors import LeakguardError, PolicyError
from leakguard.gateway import Gatekeeper
from leakguard.gateway._decide import routed
from leakguard.gateway.passwords import PasswordFile, hash_password
from leakguard.gateway.relay import HopReply, _stuffed, parse_client_network
from leakguard.guard import Guard
from leakguard.policy import Policy
from leakguard.runner import Runner

# ------------------------------------------------------------------ header reader

# A lenient reader's idea of an X-Leakguard field, written apart from the code under test.
_FORGED = re.compile(rb"(?im)^[ \t]*x-leakguard[ \t]*:")

names = st.sampled_from(
    ["X-Leakguard", "x-leakguard", "X-LEAKGUARD", "X-Leakguard ", "X-Leakguard\t", "Subject", "To"]
)
values = st.text(alphabet="abc ;=0123:", max_size=20)
ends = st.sampled_from([b"\r\n", b"\n"])


@given(
    st.lists(st.tuples(names, values, st.booleans(), ends), max_size=8),
    st.binary(max_size=40).filter(lambda b: not b.startswith((b" ", b"\t"))),
)
def test_without_field_removes_every_spelling_and_keeps_the_rest(
    fields: list[tuple[str, str, bool, bytes]], body: bytes
) -> None:
    lines = []
    for name, value, folded, end in fields:
        line = f"{name}: {value}".encode() + end
        if folded:
            line += b" more" + end
        lines.append(line)
    data = b"".join(lines) + b"\r\n" + b"X-Leakguard: in the body\r\n" + body
    out = without_field(data, "X-Leakguard")
    head, _, rest = out.partition(b"\r\nX-Leakguard: in the body\r\n")
    assert rest == body  # the body is never touched
    assert not _FORGED.search(head)
    kept = [
        line for line, (name, *_) in zip(lines, fields, strict=True) if "leak" not in name.lower()
    ]
    assert head + b"\r\n" == b"".join(kept) + b"\r\n"


@given(st.binary(max_size=200))
def test_header_block_reads_any_bytes_and_gives_them_back(data: bytes) -> None:
    block = header_block(data)
    assert b"".join(raw for _, raw in block.fields) == data[: sum(len(r) for _, r in block.fields)]
    assert 0 <= block.body_at <= len(data)
    assert without_field(data, "X-Leakguard").endswith(data[block.body_at :])


def test_header_block_ends_at_the_first_empty_line() -> None:
    block = header_block(b"A: 1\nB : 2\r\n\tfolded\r\n\r\nC: body\r\n")
    assert [name for name, _ in block.fields] == ["a", "b"]
    assert block.fields[1][1] == b"B : 2\r\n\tfolded\r\n"
    assert block.body_at == len(b"A: 1\nB : 2\r\n\tfolded\r\n\r\n")


# ------------------------------------------------------------------ the relay's DATA stream


@given(st.lists(st.binary(max_size=60).map(lambda b: b.replace(b"\x00", b"")), max_size=3))
def test_stuffed_stream_is_what_smtplib_would_send(parts: list[bytes]) -> None:
    # As smtplib sends a text message: every line end made CRLF (its _fix_eols), then
    # each line starting with a dot stuffed.
    text = smtplib._fix_eols(b"".join(parts).decode("latin-1"))  # type: ignore[attr-defined]
    expected = smtplib._quote_periods(text.encode("latin-1"))  # type: ignore[attr-defined]
    if expected[-2:] != b"\r\n":
        expected += b"\r\n"
    assert b"".join(_stuffed(*parts)) == expected + b".\r\n"


def test_stuffed_stream_cuts_a_large_message_at_line_ends() -> None:
    data = (b".line\r\n" + b"x" * 1000 + b"\r\n") * 3000
    pieces = list(_stuffed(data))
    assert len(pieces) > 2 and all(p.endswith(b"\n") for p in pieces)
    assert b"".join(pieces) == smtplib._quote_periods(data) + b".\r\n"  # type: ignore[attr-defined]


def test_next_hop_replies_speak_both_languages_and_mask_numbers() -> None:
    def pick(en: str, fr: str) -> str:
        return f"{fr} / {en}"

    down = HopReply(451, "4.4.1", "unreachable", None, "ConnectionRefusedError")
    assert down.reply(pick) == (
        "451 4.4.1 le serveur suivant est injoignable, reessayez plus tard "
        "(ConnectionRefusedError) / the next hop cannot be reached, try again later "
        "(ConnectionRefusedError)"
    )
    refused = HopReply(550, "5.0.0", "refused", "RCPT", f"550 5.1.1 <{NIR}@x.fr> unknown")
    said = refused.reply(pick)
    assert said.startswith("550 5.0.0 le serveur suivant a refuse a l'etape RCPT : ")
    assert not leaked(said, [NIR])


# ------------------------------------------------------------------ masking


@pytest.mark.parametrize("value", [NIR, NIR_SPACED, IBAN, RIB, NISS, NAM, SIN])
def test_mask_numbers_hides_every_identifier_the_guard_knows(value: str) -> None:
    masked = mask_numbers(f"scan {value}.pdf")
    assert not leaked(masked, [value]) and masked.startswith("scan ")


@given(st.text(max_size=80))
def test_mask_numbers_leaves_no_long_number_and_is_stable(text: str) -> None:
    masked = mask_numbers(text)
    assert not re.search(r"\d[\d .\-/_]{4,}\d", masked)
    assert mask_numbers(masked) == masked
    assert len(masked) == len(text)
    assert re.sub(r"\d", "*", masked) == re.sub(r"\d", "*", text)


def test_a_location_prints_masked_and_keeps_the_name_to_find_the_part() -> None:
    where = Location.attachment("export", f"patient {NIR_SPACED}.txt")
    assert where.where == f"attachment:export/patient {NIR_SPACED}.txt"
    assert str(where) == "attachment:export/patient * ** ** ** *** *** **.txt"
    assert where.label("fr") == "pièce jointe export/patient * ** ** ** *** *** **.txt"
    assert where.top_level == Location.attachment("export")


# ------------------------------------------------------------------ policy


def test_policy_answers_for_unread_content_per_reason() -> None:
    default = Policy.default()
    assert (default.unread, default.unread_timeout) == ("refuse", "defer")
    assert default.unread_answer(["timeout"]) == "defer"
    assert default.unread_answer(["timeout", "too_large"]) == "refuse"
    assert default.unread_answer(["corrupt"]) == "refuse"
    patient = Policy.from_toml('[gateway]\nunread = "defer"\nunread_timeout = "refuse"\n')
    assert patient.unread_answer(["unsupported"]) == "defer"
    assert patient.unread_answer(["timeout"]) == "refuse"
    with pytest.raises(PolicyError) as wrong:
        Policy.from_toml('[gateway]\nunread = "accept"\n')
    assert str(wrong.value) == (
        "<string>: setting 'gateway.unread' is not valid (got 'accept'); allowed: defer or refuse."
    )


# ------------------------------------------------------------------ passwords, networks


def test_password_file_reads_passlib_hashes_and_writes_them() -> None:
    # Written by passlib 1.7: scrypt.using(rounds=14, salt=b"0123456789abcdef").hash(...)
    vector = (
        "$scrypt$ln=14,r=8,p=1$MDEyMzQ1Njc4OWFiY2RlZg$io2Z5q7ce8tPIh7i4bTpyHAeUUZaCUZ3rBVodJyjx6Y"
    )
    accounts = PasswordFile({"copier": vector, "fax": hash_password("f@x-2026")})
    assert accounts.check("copier", "s3cret-pass")
    assert accounts.check("copier", "s3cret-pass")  # remembered, same answer
    assert not accounts.check("copier", "s3cret-pasS")
    assert accounts.check("fax", "f@x-2026") and not accounts.check("fax", "s3cret-pass")
    assert not accounts.check("nobody", "s3cret-pass")


def test_password_file_names_the_line_it_cannot_read(tmp_path: Path) -> None:
    path = tmp_path / "users"
    path.write_text("# comment\n\ncopier:plain-text-password\n", encoding="utf-8")
    with pytest.raises(LeakguardError) as wrong:
        PasswordFile.load(path)
    assert str(wrong.value).startswith(f"{path}, line 3: expected user:$scrypt$")
    with pytest.raises(LeakguardError) as missing:
        PasswordFile.load(path.parent / "none")
    assert str(missing.value).endswith("No such file or directory")


@pytest.mark.parametrize(
    ("value", "network"),
    [
        ("192.168.1.0/24", "192.168.1.0/24"),
        ("10.0.0.5", "10.0.0.5/32"),
        ("192.168.1.7/24", "192.168.1.0/24"),
    ],
)
def test_allow_client_takes_networks_and_addresses(value: str, network: str) -> None:
    assert str(parse_client_network(value)) == network


def test_allow_client_says_what_is_wrong() -> None:
    with pytest.raises(LeakguardError) as wrong:
        parse_client_network("clinic-lan")
    assert str(wrong.value) == (
        "--allow-client must be a network such as 192.168.1.0/24 or an address, not 'clinic-lan'"
    )


# ------------------------------------------------------------------ runner, gatekeeper


def test_runner_reservations_share_the_bound_with_checks() -> None:
    runner = Runner(workers=1, max_pending=4, max_bytes=1000, time_budget=5.0, footprint=1)
    assert runner.reserve(600) and not runner.reserve(500)
    assert runner.bytes_held == 600
    assert not runner.reserve(500, force=True)  # counted all the same: it is held
    assert runner.bytes_held == 1100

    async def two() -> None:
        await runner.run(lambda _: None, size=10)  # alone: let in
        first = asyncio.ensure_future(runner.run(lambda _: time.sleep(0.2)))
        await asyncio.sleep(0.05)
        with pytest.raises(Exception) as busy:
            await runner.run(lambda _: None, size=10)
        assert type(busy.value).__name__ == "Busy"
        await first

    asyncio.run(two())
    runner.release(1100)
    assert runner.bytes_held == 0
    runner.close()


def test_gatekeeper_refuses_unread_content_and_never_accepts_it() -> None:
    message = (
        b"From: a@clinic.fr\r\nTo: b@gmail.com\r\nSubject: x\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
        b"Content-Type: text/plain\r\n\r\nBonjour\r\n--b\r\n"
        b'Content-Type: application/pdf; name="cr.pdf"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjcKAAECAwQ=\r\n--b--\r\n"
    )
    for toml, code in (("", 550), ('[gateway]\nunread = "defer"\n', 451)):
        keeper = Gatekeeper(Guard(Policy.from_toml(toml)), interface="test", lang="en")
        try:
            decision = asyncio.run(keeper.decide(message, ["b@gmail.com"]))
        finally:
            keeper.close()
        assert (decision.code, decision.error) == (code, "unread")
        assert "[attachment:cr.pdf] This attachment could not be checked" in decision.text
        assert decision.audit["unread"] == ["corrupt"]


# ------------------------------------------------------------------ routed addresses


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("dr@clinic.fr", False),
        ("<dr.house+cr@clinic.fr>", False),
        ("@relay.example:dr@clinic.fr", False),  # a source route: servers go by the rest
        ("postmaster", False),
        ("x%gmail.com@clinic.fr", True),
        ("gmail.com!x@clinic.fr", True),
        ('<"x@gmail.com"@clinic.fr>', True),
        ("x@gmail.com@clinic.fr", True),
        ("@relay.example:x%gmail.com@clinic.fr", True),
    ],
)
def test_routed_addresses_are_those_a_server_may_send_elsewhere(
    address: str, expected: bool
) -> None:
    assert routed(address) is expected


@given(st.from_regex(r"[a-z0-9._+\-]{1,20}@[a-z0-9\-]{1,20}\.[a-z]{2,6}", fullmatch=True))
def test_an_ordinary_address_is_never_routed(address: str) -> None:
    assert not routed(address) and not routed(f"<{address}>")
