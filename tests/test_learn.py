"""Learning correspondents from a Sent folder, and the findings the guard draws from them."""

from __future__ import annotations

import email.utils
import json
import mailbox
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rapidfuzz.distance import OSA

from helpers import IBAN, NIR, NIR_SPACED, RIB, digits_of, make_nir, message
from leakguard import Action, Guard, Policy
from leakguard.cli import main
from leakguard.correspondents import Correspondents, CorrespondentsError
from leakguard.correspondents._store import Tally
from leakguard.learn import learn
from leakguard.recipients import skeleton

NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
CLINIC = "clinique-exemple.fr"
SECRET_WORDS = "Compte rendu confidentiel de madame Orlanne Quistrebert"


@dataclass(frozen=True)
class Sent:
    when: datetime
    to: Sequence[str]
    cc: Sequence[str] = ()
    sensitive: bool = False
    subject: str = "Rendez-vous"


def write_mbox(path: Path, history: Sequence[Sent], *, start: int = 0) -> Path:
    """An mbox Sent folder holding ``history``; sensitive messages carry a NIR and a RIB."""
    box = mailbox.mbox(str(path))
    for n, item in enumerate(history, start=start):
        msg = EmailMessage()
        msg["From"] = f"Secrétariat <secretariat@{CLINIC}>"
        msg["To"] = ", ".join(item.to)
        if item.cc:
            msg["Cc"] = ", ".join(item.cc)
        msg["Subject"] = item.subject
        msg["Date"] = email.utils.format_datetime(item.when)
        msg["Message-ID"] = f"<sent-{n}@{CLINIC}>"
        body = f"Bonjour,\n{SECRET_WORDS}.\n"
        if item.sensitive:
            body += f"NIR {NIR_SPACED}\nRIB {RIB}\n"
        msg.set_content(body)
        box.add(msg)
    box.flush()
    box.close()
    return path


def ago(**delta: float) -> datetime:
    return NOW - timedelta(**delta)


MARTIN = "Dr Martin <dr.martin@cabinet-exemple.fr>"
LABO = "Laboratoire <resultats@labo-exemple.fr>"
JEANNE = "Jeanne Petit <jeanne.petit@orange.fr>"
PATIENT_A = "Paul Aubert <paul.aubert@free.fr>"
EX_CLIENT = "Ancien client <ancien.client@gmail.com>"


def history() -> list[Sent]:
    """Five years of a clinic's Sent folder, with a known story per address."""
    items = [Sent(datetime(2021, 3, 2, 10, tzinfo=UTC), [EX_CLIENT])]
    items.append(Sent(datetime(2021, 4, 6, 10, tzinfo=UTC), ["ANCIEN.CLIENT@gmail.com"]))
    for i in range(6):  # the doctor and the lab always together, with patient files
        items.append(Sent(ago(days=30 * i + 5), [MARTIN], [LABO], sensitive=True))
    for i in range(4):  # the doctor alone, appointments
        items.append(Sent(ago(days=40 * i + 3), ["Docteur Martin <dr.martin@cabinet-exemple.fr>"]))
    for i in range(5):
        items.append(Sent(ago(days=20 * i + 2), [JEANNE]))
    items.append(Sent(ago(days=60), [PATIENT_A]))
    items.append(Sent(ago(days=61), [f"accueil@{CLINIC}"]))
    return items


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("learn")
    sent = write_mbox(folder / "Sent.mbox", history())
    out = folder / "correspondents.db"
    summary = learn([sent], out, clock=lambda: NOW)
    assert (summary.read, summary.learned, summary.sensitive) == (19, 19, 6)
    return out


@pytest.fixture
def book(store: Path) -> Correspondents:
    return Correspondents.open(store, clock=lambda: NOW)


def guard_with(book: Correspondents, **policy: object) -> Guard:
    base = Policy.default().replace(internal_domains=(CLINIC,), **policy)
    return Guard(base, correspondents=book)


def kinds_of(guard: Guard, msg: EmailMessage) -> list[str]:
    return [f.kind for f in guard.check(msg).findings]


# ---------------------------------------------------------------------- what is learned


def test_learning_counts_dates_names_and_sensitive_content_per_address(
    book: Correspondents,
) -> None:
    martin = book.get("Dr.Martin@Cabinet-Exemple.fr")
    assert martin is not None
    assert (martin.messages, martin.sensitive_messages) == (10, 6)
    assert martin.names == ("Docteur Martin", "Dr Martin")
    assert martin.first_sent == ago(days=155) and martin.last_sent == ago(days=3)
    ex = book.get("ancien.client@gmail.com")
    assert ex is not None and ex.messages == 2 and ex.sensitive_messages == 0
    assert ex.last_sent == datetime(2021, 4, 6, 10, tzinfo=UTC)
    assert book.get("nobody@example.org") is None
    assert "jeanne.petit@orange.fr" in book and len(book) == 6
    assert book.oldest == datetime(2021, 3, 2, 10, tzinfo=UTC) and book.messages == 19


def test_learning_counts_per_domain_and_groups_written_together(book: Correspondents) -> None:
    gmail = book.domain("GMAIL.com")
    assert gmail is not None and (gmail.messages, gmail.sensitive_messages) == (2, 0)
    labo = book.domain("labo-exemple.fr")
    assert labo is not None and labo.sensitive_messages == 6
    assert book.usual_groups(3) == [
        (("dr.martin@cabinet-exemple.fr", "resultats@labo-exemple.fr"), 6)
    ]
    assert book.together(["resultats@labo-exemple.fr"], "dr.martin@cabinet-exemple.fr") == (6, 0)
    assert book.together(["dr.martin@cabinet-exemple.fr"], "resultats@labo-exemple.fr") == (6, 4)
    assert book.together(["unknown@example.org"], "resultats@labo-exemple.fr") == (0, 0)


def test_nothing_in_the_store_is_an_identifier_a_subject_or_a_body(store: Path) -> None:
    raw = store.read_bytes()
    compact = raw.replace(b" ", b"")
    for value in (NIR, RIB, IBAN):
        assert digits_of(value).encode() not in compact
    for text in (SECRET_WORDS, "Orlanne", "Quistrebert", "Rendez-vous", "Bonjour"):
        assert text.encode() not in raw and text.encode("utf-16-le") not in raw
    db = sqlite3.connect(store)
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    db.close()
    assert tables == {"meta", "address", "name", "domain", "grp", "seen"}


def test_display_names_holding_numbers_are_not_kept(tmp_path: Path) -> None:
    nir = make_nir(7)
    sent = write_mbox(
        tmp_path / "Sent.mbox",
        [Sent(NOW, [f'"Dupont {nir}" <dupont@example.org>', '"Zoé Durand" <zoe@example.org>'])],
    )
    out = tmp_path / "c.db"
    learn([sent], out, clock=lambda: NOW)
    assert nir.encode() not in out.read_bytes()
    book = Correspondents.open(out)
    dupont, zoe = book.get("dupont@example.org"), book.get("zoe@example.org")
    assert dupont is not None and dupont.names == ()
    assert zoe is not None and zoe.names == ("Zoé Durand",)


def test_update_adds_only_new_messages(tmp_path: Path) -> None:
    first = write_mbox(tmp_path / "a.mbox", history()[:10])
    out = tmp_path / "c.db"
    learn([first], out, clock=lambda: NOW)
    again = learn([first], out, update=True, clock=lambda: NOW)
    assert (again.learned, again.already_known, again.messages) == (0, 10, 10)
    rest = write_mbox(tmp_path / "b.mbox", history()[10:], start=10)
    more = learn([first, rest], out, update=True, clock=lambda: NOW)
    assert (more.learned, more.already_known, more.messages) == (9, 10, 19)
    whole = learn([write_mbox(tmp_path / "all.mbox", history())], tmp_path / "w.db")
    assert Tally.load(out) == Tally.load(tmp_path / "w.db")
    rebuilt = learn([first], out, clock=lambda: NOW)  # without --update: rebuilt
    assert rebuilt.messages == 10 and whole.messages == 19


def test_learning_in_worker_processes_gives_the_same_store(tmp_path: Path) -> None:
    sent = write_mbox(tmp_path / "Sent.mbox", history())
    learn([sent], tmp_path / "one.db", jobs=1)
    learn([sent], tmp_path / "two.db", jobs=2)
    assert Tally.load(tmp_path / "one.db") == Tally.load(tmp_path / "two.db")


def test_an_unreadable_archive_leaves_the_store_as_it_was(store: Path, tmp_path: Path) -> None:
    copy = tmp_path / "c.db"
    copy.write_bytes(store.read_bytes())
    from leakguard.archives import ArchiveError

    with pytest.raises(ArchiveError) as err:
        learn([tmp_path / "missing.mbox"], copy, update=True)
    assert str(err.value) == f"{tmp_path / 'missing.mbox'}: no such file or folder."
    assert copy.read_bytes() == store.read_bytes()


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("colleagues.csv", b"name,email\nClaire Martin,dr.martin@clinique-exemple.fr\n"),
        ("notes.eml", b"bonjour\n"),
        ("export.mbox", b"\x00\x01random bytes"),
    ],
)
def test_what_is_not_mail_is_not_learned_and_the_store_stays(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, content: bytes
) -> None:
    """Given as sent mail, a CSV, a note or random bytes were learned as one message with
    no recipient, and without --update the good store was replaced by that empty one."""
    copy = tmp_path / "c.db"
    copy.write_bytes(store.read_bytes())
    wrong = tmp_path / name
    wrong.write_bytes(content)
    assert main(["learn", str(wrong), "-o", str(copy)]) == 2
    said = capsys.readouterr()
    assert "not an e-mail message" in said.out, said.out
    assert f"{copy} was left as it was" in said.err, said.err
    assert copy.read_bytes() == store.read_bytes()


def test_a_file_that_is_not_a_store_is_refused_clearly(tmp_path: Path) -> None:
    bad = tmp_path / "notes.db"
    bad.write_text("hello", encoding="utf-8")
    with pytest.raises(CorrespondentsError) as err:
        Correspondents.open(bad)
    assert str(err.value).startswith(f"{bad}: not a correspondents store made by leakguard learn")
    # A mistyped -o naming the Sent folder itself is never overwritten.
    sent = write_mbox(tmp_path / "Sent.mbox", history()[:2])
    before = sent.read_bytes()
    with pytest.raises(CorrespondentsError):
        learn([sent], sent)
    assert sent.read_bytes() == before
    missing = tmp_path / "none.db"
    with pytest.raises(CorrespondentsError) as err:
        Guard(correspondents=missing)
    assert str(err.value) == (
        f"{missing}: no such correspondents store; build it with: leakguard learn SENT -o {missing}"
    )


# ---------------------------------------------------------------------- findings


def test_first_time_recipient_warns_only_with_sensitive_data(book: Correspondents) -> None:
    guard = guard_with(book)
    plain = guard.check(message(to="Inconnu <inconnu@example.org>"))
    assert [f.kind for f in plain.findings] == ["first_time_recipient"]
    assert plain.action is Action.ALLOW
    f = plain.findings[0]
    assert (f.recipient, f.detail, str(f.location)) == (
        "inconnu@example.org",
        "new_domain",
        "header:to",
    )
    assert f.message("en") == (
        "First message to inconnu@example.org: nothing was ever sent to this address, "
        "nor to anyone at its domain."
    )
    assert f.message("fr").startswith("Premier message à inconnu@example.org : rien n'a")
    # Secure health messaging: nothing else raises the action, the new recipient warns.
    sensitive = guard.check(message(to="dr.x@chu.mssante.fr", body=f"NIR {NIR}\n"))
    assert sorted(sensitive.kinds()) == ["first_time_recipient", "nir"]
    assert sensitive.action is Action.WARN
    assert (
        guard_with(book, actions_with_sensitive={})
        .check(message(to="dr.x@chu.mssante.fr", body=f"NIR {NIR}\n"))
        .action
        is Action.ALLOW
    )
    same_domain = guard.check(message(to="autre@gmail.com")).findings[0]
    assert same_domain.detail == "known_domain"


def test_first_time_recipient_is_not_given_for_known_internal_or_colleague_addresses(
    book: Correspondents,
) -> None:
    from leakguard.recipients import Directory

    guard = guard_with(book)
    assert kinds_of(guard, message(to=JEANNE)) == []
    assert kinds_of(guard, message(to=f"nouveau@{CLINIC}")) == []
    colleagues = Directory.from_addresses(["dr.nouveau@hopital-exemple.fr"])
    with_directory = Guard(guard.policy, directory=colleagues, correspondents=book)
    assert kinds_of(with_directory, message(to="dr.nouveau@hopital-exemple.fr")) == []
    assert Guard(guard.policy).check(message(to="inconnu@example.org")).findings == ()


def test_quiet_start_holds_back_new_recipient_findings(store: Path) -> None:
    oldest = datetime(2021, 3, 2, 10, tzinfo=UTC)
    early = Correspondents.open(store, clock=lambda: oldest + timedelta(days=29))
    later = Correspondents.open(store, clock=lambda: oldest + timedelta(days=31))
    msg = message(to="inconnu@example.org")
    assert kinds_of(guard_with(early), msg) == []
    assert kinds_of(guard_with(later), msg) == ["first_time_recipient"]
    assert kinds_of(guard_with(later, quiet_days=40), msg) == []


def test_dormant_recipient_names_the_last_date(book: Correspondents) -> None:
    guard = guard_with(book)
    v = guard.check(message(to=EX_CLIENT))
    assert [f.kind for f in v.findings] == ["dormant_recipient"]
    assert v.action is Action.WARN
    f = v.findings[0]
    assert (f.recipient, f.last_seen) == ("ancien.client@gmail.com", "2021-04-06")
    assert f.to_dict("en")["last_seen"] == "2021-04-06"
    assert f.message("en") == (
        "First message to ancien.client@gmail.com since 2021-04-06: is this still the right person?"
    )
    assert f.message("fr") == (
        "Premier message à ancien.client@gmail.com depuis le 2021-04-06 : est-ce toujours "
        "la bonne personne ?"
    )
    assert kinds_of(guard, message(to=MARTIN)) == []
    assert kinds_of(guard_with(book, dormant_months=70), message(to=EX_CLIENT)) == []


def test_dormant_delay_is_counted_in_calendar_months(store: Path) -> None:
    # Last written to on 2021-04-06 at 10:00: dormant twelve months later to the hour.
    before = Correspondents.open(store, clock=lambda: datetime(2022, 4, 6, 9, tzinfo=UTC))
    after = Correspondents.open(store, clock=lambda: datetime(2022, 4, 6, 10, tzinfo=UTC))
    assert kinds_of(guard_with(before), message(to=EX_CLIENT)) == []
    assert kinds_of(guard_with(after), message(to=EX_CLIENT)) == ["dormant_recipient"]


def test_unusual_recipient_joins_a_usual_group_with_sensitive_data(
    book: Correspondents,
) -> None:
    guard = guard_with(book)
    sensitive = message(to=[MARTIN, LABO, PATIENT_A], pdf_lines=[f"NIR {NIR}"])
    v = guard.check(sensitive)
    unusual = [f for f in v.findings if f.kind == "unusual_recipient"]
    assert [(f.recipient, f.count) for f in unusual] == [("paul.aubert@free.fr", 6)]
    assert unusual[0].message("en") == (
        "paul.aubert@free.fr has never received sensitive data, and the other recipients "
        "were written to 6 times without this address."
    )
    assert "n'a jamais reçu de données sensibles" in unusual[0].message("fr")
    plain = message(to=[MARTIN, LABO, PATIENT_A])
    assert "unusual_recipient" not in guard.check(plain).kinds()
    # The doctor has received sensitive data: never unusual.
    usual = message(to=[LABO, PATIENT_A, MARTIN], pdf_lines=[f"NIR {NIR}"])
    assert [f.recipient for f in guard.check(usual).findings if f.kind == "unusual_recipient"] == [
        "paul.aubert@free.fr"
    ]
    assert "unusual_recipient" not in kinds_of(guard_with(book, usual_group_messages=7), sensitive)


def test_lookalike_of_a_frequent_correspondent(book: Correspondents) -> None:
    guard = guard_with(book)
    v = guard.check(message(to="Jeanne Petit <jeanne.petlt@orange.fr>", pdf_lines=[f"NIR {NIR}"]))
    look = [f for f in v.findings if f.kind == "lookalike_recipient"]
    assert [(f.recipient, f.similar_to, f.distance, f.detail) for f in look] == [
        ("jeanne.petlt@orange.fr", "jeanne.petit@orange.fr", 1, "correspondent")
    ]
    assert v.action is Action.BLOCK  # a look-alike with sensitive data, as for colleagues
    assert look[0].message("en") == (
        "jeanne.petlt@orange.fr has rarely or never been written to, but is 1 keystroke(s) "
        "away from jeanne.petit@orange.fr, an address often written to: autocomplete error?"
    )
    # Written to twice only: not frequent, so no look-alike is drawn from it.
    assert "lookalike_recipient" not in kinds_of(guard, message(to="ancien.cllent@gmail.com"))
    assert "lookalike_recipient" not in kinds_of(
        guard_with(book, frequent_messages=6), message(to="jeanne.petlt@orange.fr")
    )


def test_one_lookalike_finding_when_the_colleagues_already_give_one(
    book: Correspondents,
) -> None:
    from leakguard.recipients import Directory

    colleagues = Directory.from_addresses(["jeanne.petit@orange.fr"])
    guard = Guard(guard_with(book).policy, directory=colleagues, correspondents=book)
    look = [
        f
        for f in guard.check(message(to="jeanne.petlt@orange.fr")).findings
        if f.kind == "lookalike_recipient"
    ]
    assert [f.detail for f in look] == [None]


_LOCAL = st.text(alphabet="abcdeilo.1", min_size=1, max_size=8).filter(
    lambda s: not s.startswith(".") and not s.endswith(".") and ".." not in s
)


@settings(max_examples=40, deadline=None)
@given(
    known=st.lists(_LOCAL, min_size=1, max_size=25, unique=True),
    query=_LOCAL,
)
def test_correspondent_lookalikes_equal_an_exhaustive_search(
    tmp_path_factory: pytest.TempPathFactory, known: list[str], query: str
) -> None:
    tally = Tally()
    for n, local in enumerate(known):
        for k in range(n % 4 + 1):  # some are written to 3 times or more, some not
            tally.add(n * 10 + k, 1_600_000_000, [(f"{local}@ex.org", "")], False)
    path = tmp_path_factory.mktemp("hyp") / "c.db"
    tally.save(path, learned_at=0)
    book = Correspondents.open(path)
    address = f"{query}@ex.org"
    got = {m.address for m in book.lookalikes(address, frequent=3)}
    frequent = [f"{local}@ex.org" for n, local in enumerate(known) if n % 4 + 1 >= 3]
    expected = {
        a
        for a in frequent
        if address not in frequent  # a frequent correspondent is nobody's look-alike
        and (OSA.distance(a, address) <= 1 or skeleton(a) == skeleton(address))
    }
    assert got == expected


# ---------------------------------------------------------------------- the policy


def test_policy_names_the_store_relative_to_its_folder(store: Path, tmp_path: Path) -> None:
    (tmp_path / "c.db").write_bytes(store.read_bytes())
    policy_file = tmp_path / "policy.toml"
    policy_file.write_text(
        '[organisation]\ninternal_domains = ["clinique-exemple.fr"]\n'
        '[recipients]\ncorrespondents = "c.db"\ndormant_months = 24\n',
        encoding="utf-8",
    )
    guard = Guard.from_policy(policy_file)
    assert guard.correspondents is not None and len(guard.correspondents) == 6
    assert guard.policy.dormant_months == 24
    assert "dormant_recipient" in kinds_of(guard, message(to=EX_CLIENT))


def test_policy_refuses_a_wrong_recipients_setting() -> None:
    from leakguard.errors import PolicyError

    with pytest.raises(PolicyError) as err:
        Policy.from_toml("[recipients]\ndormant_months = 0\n", source="p.toml")
    assert str(err.value).startswith(
        "p.toml: setting 'recipients.dormant_months' is not valid (got 0); "
        "allowed: a whole number ≥ 1."
    )


# ---------------------------------------------------------------------- the seed


SEED = Path(__file__).resolve().parents[1] / "seeds" / "alliance-vision"


def test_alliance_vision_ex_client_is_dormant_and_a_lookalike(tmp_path: Path) -> None:
    """The ex-client was last written to years before the mistake: dormant, and one letter
    away from the colleague written to every week."""
    colleague = "Marc Lecomte <m.lecomte@gmail.com>"
    ex_client = "Marc Lecompte <m.lecompte@gmail.com>"
    mistake = datetime(2026, 11, 23, 8, tzinfo=UTC)
    sent = [Sent(datetime(2019, 5, 3 + i, 9, tzinfo=UTC), [ex_client]) for i in range(3)]
    sent += [
        Sent(mistake - timedelta(days=7 * i + 1), [colleague], sensitive=True) for i in range(20)
    ]
    box = write_mbox(tmp_path / "Sent.mbox", sent)
    out = tmp_path / "correspondents.db"
    learn([box], out, clock=lambda: mistake)
    policy = Policy.load(SEED / "policy.toml")
    guard = Guard(policy, correspondents=Correspondents.open(out, clock=lambda: mistake))
    v = guard.check(SEED / "message.eml")
    by_kind = {f.kind: f for f in v.findings}
    assert v.action is Action.BLOCK
    assert by_kind["dormant_recipient"].last_seen == "2019-05-05"
    assert by_kind["dormant_recipient"].recipient == "m.lecompte@gmail.com"
    assert by_kind["lookalike_recipient"].similar_to == "m.lecomte@gmail.com"
    assert [f.kind for f in v.findings].count("lookalike_recipient") == 1
    explained = v.explain("fr")
    assert "depuis le 2019-05-05" in explained
    raw = out.read_bytes()
    assert b"Lecompte" in raw  # display names are kept; nothing else of the message
    assert b"ranstission" not in raw


# ---------------------------------------------------------------------- command line


def test_learn_then_check_on_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LANG", "en_GB.UTF-8")
    now = datetime.now(UTC)
    sent = write_mbox(
        tmp_path / "Sent.mbox",
        [Sent(now - timedelta(days=900), [EX_CLIENT]), Sent(now - timedelta(days=3), [JEANNE])],
    )
    out = tmp_path / "c.db"
    assert main(["learn", str(sent), "-o", str(out), "--format", "json", "--jobs", "1"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["learned"], doc["addresses"], doc["messages"]) == (2, 2, 2)
    assert main(["learn", str(sent), "-o", str(out), "--update", "-j", "1"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("0 new message(s) learned (0 with sensitive data), 2 already known.")
    eml = tmp_path / "m.eml"
    eml.write_bytes(bytes(message(to=EX_CLIENT)))
    args = ["check", "--correspondents", str(out), "--format", "json", str(eml)]
    assert main(args) == 0
    found = json.loads(capsys.readouterr().out)["messages"][0]["findings"]
    assert [(f["kind"], f["recipient"]) for f in found] == [
        ("dormant_recipient", "ancien.client@gmail.com")
    ]
    assert main(["check", "--correspondents", str(tmp_path / "none.db"), str(eml)]) == 2
    assert "no such correspondents store" in capsys.readouterr().err


def test_learn_help_states_defaults_in_both_languages(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for lang, marker in (("en_GB.UTF-8", "(default: rebuild)"), ("fr_FR.UTF-8", "(par défaut")):
        monkeypatch.setenv("LANG", lang)
        with pytest.raises(SystemExit):
            main(["learn", "--help"])
        assert marker in " ".join(capsys.readouterr().out.split())


def test_learn_reports_an_unusable_message_and_learns_the_others(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LANG", "fr_FR.UTF-8")
    folder = tmp_path / "Envoyes"
    folder.mkdir()
    (folder / "a.eml").write_bytes(b"To: Zoe <zoe@example.org>\nSubject: x\n\nBonjour\n")
    (folder / "b.eml").write_bytes(b"")
    out = tmp_path / "c.db"
    assert main(["learn", str(folder), "-o", str(out), "-j", "1"]) == 2
    text = capsys.readouterr().out
    assert text.startswith(f"{folder / 'b.eml'} : illisible, non appris\n")
    assert "1 nouveau(x) message(s) appris (0 avec des données sensibles)" in text
    learned = Correspondents.open(out).get("zoe@example.org")
    assert learned is not None and learned.messages == 1 and learned.last_sent is None
