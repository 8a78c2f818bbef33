"""The national MSSanté directory: reading the extraction, its cache and its look-ups."""

from __future__ import annotations

import logging
import os
import pickle
import unicodedata
import zipfile
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from rapidfuzz.distance import OSA

from leakguard.errors import DirectoryError
from leakguard.recipients import HealthDirectory, person_key
from leakguard.recipients import skeleton as skeleton_of
from mssante_factory import HEADER, KNOWN, KNOWN_ORG, ZIP_MEMBER, _row, write_extraction

JEROME = KNOWN[0]  # Dr Jérôme DUPONT-LEFÈVRE, Médecin, one mailbox
QUINTARD = [p.address for p in KNOWN if p.last == "QUINTARD"]


def per(address: str, first: str = "Paul", last: str = "DURAND", job: str = "Médecin") -> str:
    return _row("PER", address, "DR", last, first, "10", job)


def text_of(*rows: str) -> str:
    return "\n".join([HEADER, *rows]) + "\n"


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2,000 rows with the known people, duplicates, PER and ORG, and five bad rows."""
    return write_extraction(tmp_path_factory.mktemp("mssante") / "annuaire.txt", 2_000)


@pytest.fixture(scope="module")
def directory(small: Path) -> HealthDirectory:
    return HealthDirectory.load(small, cache=False)


# --------------------------------------------------------------------------- reading


def test_text_form_counts_rows_addresses_and_bad_rows(small: Path) -> None:
    d = HealthDirectory.load(small, cache=False)
    lines = small.read_text(encoding="utf-8").splitlines()
    assert d.rows + d.bad_rows == len(lines) - 1
    assert d.bad_by_reason == {"columns": 2, "address": 1, "invalid": 1, "type": 1}
    # Line numbers count the header as line 1, as an editor shows them.
    for issue in d.issues:
        line = lines[issue.line - 1]
        assert (
            line.count("|") != 30
            or "XYZ|" in line
            or "|pas une adresse|" in line
            or "PER||" in line
        )
    assert [i.reason for i in d.issues].count("wrong number of columns") == 2
    assert d.issues[0].message("fr").startswith(f"ligne {d.issues[0].line} : ")
    distinct = {line.split("|")[1] for line in lines[1:] if line.count("|") == 30}
    assert len(d) == len(distinct - {"", "pas une adresse", "type.inconnu@medecin.mssante.fr"})
    assert d.personal + d.organisational >= len(d)
    assert d.organisational > 0 and d.personal > d.organisational
    assert d.cache == "off"


def test_zip_form_gives_the_same_directory_and_the_date_of_its_member(
    small: Path, directory: HealthDirectory, tmp_path: Path
) -> None:
    archive = tmp_path / "Extraction.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        z.write(small, ZIP_MEMBER.format(stamp="202405061432"))
    d = HealthDirectory.load(archive, cache=False)
    assert (len(d), d.rows, d.bad_by_reason) == (
        len(directory),
        directory.rows,
        directory.bad_by_reason,
    )
    assert d.generated == datetime(2024, 5, 6, 14, 32)
    assert d.generated_from == "name" and d.date == "2024-05-06"
    assert JEROME.address in d and KNOWN_ORG in d


def test_generation_time_from_the_text_name_else_its_mtime(tmp_path: Path) -> None:
    named = write_extraction(tmp_path / "Extraction_Correspondance_MSSante_202403010815.txt", 50)
    d = HealthDirectory.load(named, cache=False)
    assert (d.generated, d.generated_from) == (datetime(2024, 3, 1, 8, 15), "name")
    plain = write_extraction(tmp_path / "mssante.txt", 50)
    when = datetime(2024, 2, 3, 4, 5, 6)
    os.utime(plain, (when.timestamp(), when.timestamp()))
    d = HealthDirectory.load(plain, cache=False)
    assert (d.generated, d.generated_from) == (when, "mtime")
    assert "from the file's time" in d.describe("en")
    assert "2024-02-03 04:05" in d.describe("fr") and "date du fichier" in d.describe("fr")


def test_age_and_staleness() -> None:
    d = HealthDirectory.from_text(
        text_of(per("a.b@medecin.mssante.fr")), generated=datetime(2024, 1, 1)
    )
    assert d.age_days(datetime(2024, 1, 31)) == 30 and not d.stale(datetime(2024, 1, 31))
    assert d.stale(datetime(2024, 2, 1, 0, 1))
    assert d.health(datetime(2024, 3, 1)) == {
        "generated": "2024-01-01T00:00",
        "generated_from": "given",
        "age_days": 60,
        "stale": True,
        "addresses": 1,
    }


def test_crlf_lines_bom_and_upper_case_are_read() -> None:
    text = "\ufeff" + HEADER + "\r\n" + per("Jean.DUPONT@Medecin.MSSante.fr") + "\r\n"
    d = HealthDirectory.from_text(text)
    assert "jean.dupont@medecin.mssante.fr" in d and "JEAN.dupont@medecin.mssante.fr" in d
    assert d.bad_rows == 0


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (b"", "no header line"),
        (b"\x00\x01binary", "no header line"),
        (b"email,name\na@b.fr,A\n", "the header has 1 column(s), 31 expected"),
        (HEADER.replace("Adresse BAL", "Courriel").encode() + b"\n", "column 2 is 'Courriel'"),
        (HEADER.encode() + b"\n", "no usable row"),
        (b"PK\x03\x04 not really a zip", "damaged or unreadable ZIP"),
    ],
)
def test_a_file_that_is_not_the_extraction_is_refused_with_one_sentence(
    tmp_path: Path, content: bytes, said: str
) -> None:
    path = tmp_path / "annuaire.txt"
    path.write_bytes(content)
    with pytest.raises(DirectoryError) as caught:
        HealthDirectory.load(path)
    assert said in str(caught.value) and str(path) in str(caught.value)
    assert caught.value.message("fr") != str(caught.value)
    assert not path.with_name(path.name + ".leakguard-cache").exists()


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(DirectoryError, match="no such file"):
        HealthDirectory.load(tmp_path / "absent.zip")
    with pytest.raises(DirectoryError, match="folder"):
        HealthDirectory.load(tmp_path)


def test_zip_with_two_files_or_a_broken_member(tmp_path: Path, small: Path) -> None:
    two = tmp_path / "two.zip"
    with zipfile.ZipFile(two, "w") as z:
        z.write(small, "a.txt")
        z.write(small, "b.txt")
    with pytest.raises(DirectoryError, match=r"one \.txt file"):
        HealthDirectory.load(two, cache=False)
    cut = tmp_path / "cut.zip"
    with zipfile.ZipFile(cut, "w", zipfile.ZIP_DEFLATED) as z:
        z.write(small, ZIP_MEMBER.format(stamp="202405061432"))
    data = bytearray(cut.read_bytes())
    data[200:220] = b"\xff" * 20  # damage the compressed stream; the directory is intact
    cut.write_bytes(bytes(data))
    with pytest.raises(DirectoryError, match="damaged ZIP"):
        HealthDirectory.load(cut, cache=False)


def test_nothing_of_the_content_is_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = write_extraction(tmp_path / "annuaire.txt", 100)
    nowhere = tmp_path / "missing-folder" / "annuaire.cache"
    with caplog.at_level(logging.DEBUG):
        d = HealthDirectory.load(path, cache=nowhere)
    # The cache could not be written: the directory still works, and the log says so
    # with the file names only.
    assert d.cache == "unwritable" and JEROME.address in d
    assert "cannot write the MSSanté cache" in caplog.text
    logged = caplog.text + "".join(i.message("en") + i.message("fr") for i in d.issues)
    assert "@" not in logged
    assert "DUPONT" not in logged and "Médecin" not in logged and "Paul" not in logged


# --------------------------------------------------------------------------- cache


def test_cache_is_built_then_loaded_and_gives_the_same_answers(tmp_path: Path) -> None:
    path = write_extraction(tmp_path / "annuaire.zip", 500, zipped=True)
    built = HealthDirectory.load(path)
    cache = tmp_path / "annuaire.zip.leakguard-cache"
    assert built.cache == "built" and cache.is_file()
    loaded = HealthDirectory.load(path)
    assert loaded.cache == "loaded"
    assert (len(loaded), loaded.rows, loaded.bad_by_reason, loaded.generated) == (
        len(built),
        built.rows,
        built.bad_by_reason,
        built.generated,
    )
    for address in (JEROME.address, KNOWN_ORG, "jerome.dupont-lefevr@medecin.mssante.fr"):
        assert (address in loaded) == (address in built)
        assert loaded.lookalike(address) == built.lookalike(address)
    assert loaded.professionals("Bérénice Quintard") == built.professionals("Bérénice Quintard")
    assert [i.line for i in loaded.issues] == [i.line for i in built.issues]
    # A pickled copy (a worker of another process) answers the same.
    copy = pickle.loads(pickle.dumps(loaded))
    assert (
        JEROME.address in copy and copy.professionals(JEROME.first + " " + JEROME.last).count == 1
    )


def test_a_changed_source_rebuilds_the_cache(tmp_path: Path) -> None:
    path = write_extraction(tmp_path / "annuaire.txt", 200)
    HealthDirectory.load(path)
    write_extraction(path, 200, extra=[per("nouveau.medecin@medecin.mssante.fr")])
    d = HealthDirectory.load(path)
    assert d.cache == "built" and "nouveau.medecin@medecin.mssante.fr" in d
    # Same size and time, other content: the hash still tells.
    stat = path.stat()
    data = path.read_bytes().replace(b"nouveau.medecin", b"nouveau.medecim")
    path.write_bytes(data)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    d = HealthDirectory.load(path)
    assert d.cache == "built" and "nouveau.medecim@medecin.mssante.fr" in d


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_a_damaged_cache_is_rebuilt(tmp_path: Path, damage: str) -> None:
    path = write_extraction(tmp_path / "annuaire.txt", 200)
    HealthDirectory.load(path)
    cache = tmp_path / "annuaire.txt.leakguard-cache"
    data = cache.read_bytes()
    cache.write_bytes(
        {"truncate": data[: len(data) // 2], "garbage": b"x" * 100, "empty": b""}[damage]
    )
    d = HealthDirectory.load(path)
    assert d.cache == "built" and JEROME.address in d
    assert HealthDirectory.load(path).cache == "loaded"


def test_cache_off_or_elsewhere(tmp_path: Path) -> None:
    path = write_extraction(tmp_path / "annuaire.txt", 100)
    assert HealthDirectory.load(path, cache=False).cache == "off"
    assert not (tmp_path / "annuaire.txt.leakguard-cache").exists()
    other = tmp_path / "elsewhere.cache"
    assert HealthDirectory.load(path, cache=other).cache == "built" and other.is_file()
    assert HealthDirectory.load(path, cache=other).cache == "loaded"


# --------------------------------------------------------------------------- look-alikes


@pytest.mark.parametrize(
    "recipient",
    [
        "jerome.dupont-lefevr@medecin.mssante.fr",  # a letter dropped
        "jerome.dupont-lefevre@medecin.msante.fr",  # in the domain
        "jerome.dupont-lefevre@medecin.mssante.fe",  # top-level domain
        "jerome.dupont-lefever@medecin.mssante.fr",  # two letters swapped
        "jerome.dupont-lefevr@emedecin.mssante.fr",  # swapped across the @
        "jerome.dupont_lefevre@medecin.mssante.fr",  # substituted
    ],
)
def test_one_keystroke_from_a_listed_mailbox(directory: HealthDirectory, recipient: str) -> None:
    assert recipient not in directory
    assert directory.lookalike(recipient) == (JEROME.address, 1)


def test_homoglyph_domain_of_a_listed_mailbox(directory: HealthDirectory) -> None:
    recipient = "jerome.dupont-lefevre@medеcin.mssаnte.fr"  # two Cyrillic letters
    found = directory.lookalike(recipient)
    assert found is not None and found[0] == JEROME.address and found[1] == 2


def test_listed_far_or_unrelated_addresses_have_no_lookalike(directory: HealthDirectory) -> None:
    assert directory.lookalike(JEROME.address) is None
    assert directory.lookalike("jerome.dupont-lef@medecin.mssante.fr") is None  # 3 edits
    assert directory.lookalike("jean.durand@gmail.com") is None
    assert directory.lookalike("not an address") is None


ALPHABET = "abcdefgh.-"
LOCAL = st.text(ALPHABET, min_size=1, max_size=8).filter(
    lambda s: not s.startswith(".") and not s.endswith(".") and ".." not in s
)
DOMAIN = st.sampled_from(["a.mssante.fr", "b.mssante.fr", "ab.mssante.fr", "medecin.mssante.fr"])


def _brute(addresses: list[str], recipient: str) -> set[str]:
    local, _, domain = recipient.rpartition("@")
    near = {a for a in addresses if a != recipient and OSA.distance(a, recipient) <= 1}
    twins = {
        a
        for a in addresses
        if a.rpartition("@")[0] == local
        and a.rpartition("@")[2] != domain
        and skeleton_of(a.rpartition("@")[2]) == skeleton_of(domain)
    }
    return near | twins


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    entries=st.lists(st.tuples(LOCAL, DOMAIN), min_size=1, max_size=25, unique=True),
    local=LOCAL,
    domain=st.one_of(DOMAIN, st.sampled_from(["a.msante.fr", "gmail.com", "b.mssante.fr.com"])),
)
def test_lookalikes_are_exactly_what_brute_force_finds(
    entries: list[tuple[str, str]], local: str, domain: str
) -> None:
    addresses = [f"{a}@{b}" for a, b in entries]
    d = HealthDirectory.from_text(text_of(*(per(a) for a in addresses)))
    recipient = f"{local}@{domain}"
    assume(recipient not in addresses)
    found = {n.address for n in d._near(recipient)}
    assert found == _brute(addresses, recipient)


@settings(max_examples=120, deadline=None)
@given(
    entries=st.lists(st.tuples(LOCAL, DOMAIN), min_size=1, max_size=25, unique=True),
    which=st.integers(min_value=0),
    pos=st.integers(min_value=0),
    char=st.sampled_from(ALPHABET + "@"),
    op=st.integers(0, 3),
)
def test_every_single_edit_of_a_listed_address_is_caught(
    entries: list[tuple[str, str]], which: int, pos: int, char: str, op: int
) -> None:
    addresses = [f"{a}@{b}" for a, b in entries]
    target = addresses[which % len(addresses)]
    i = pos % len(target)
    edited = [
        target[:i] + char + target[i + 1 :],
        target[:i] + char + target[i:],
        target[:i] + target[i + 1 :],
        target[:i] + target[i + 1 : i + 2] + target[i : i + 1] + target[i + 2 :],
    ][op]
    assume(edited not in addresses and edited.count("@") == 1 and edited != target)
    assume(not edited.startswith("@") and not edited.endswith("@"))
    d = HealthDirectory.from_text(text_of(*(per(a) for a in addresses)))
    assert target in {n.address for n in d._near(edited)}


# --------------------------------------------------------------------------- names


def test_one_professional_by_name_whatever_the_spelling(directory: HealthDirectory) -> None:
    for shown in (
        "Dr Jérôme Dupont-Lefèvre",
        "DUPONT-LEFEVRE Jerome",
        "jérôme dupont lefèvre",
        "Docteur Jérôme DUPONT-LEFÈVRE (cabinet)",
        "Lefèvre-Dupont, Jérôme",
    ):
        found = directory.professionals(shown)
        assert found.count == 1, shown
        assert found.shown[0].address == JEROME.address
        assert found.shown[0].name == "Dr Jérôme DUPONT-LEFÈVRE"
        assert found.shown[0].profession == "Médecin"


def test_homonyms_are_counted_and_three_shown(directory: HealthDirectory) -> None:
    found = directory.professionals("Bérénice Quintard")
    # Four mailboxes (one of them on two lines of the file), three shown.
    assert found.count == len(set(QUINTARD)) == 4
    assert len(found.shown) == 3
    assert {s.address for s in found.shown} <= set(QUINTARD)
    assert {s.profession for s in found.shown} == {"Médecin", "Infirmier", "Pharmacien"}


@pytest.mark.parametrize(
    "shown",
    ["Quintard", "Dr Quintard", "B. Quintard", "Mme Quintard", "", "Madame", "b q", "x" * 300],
)
def test_a_name_that_names_nobody_matches_nobody(directory: HealthDirectory, shown: str) -> None:
    assert directory.professionals(shown).count == 0


def test_an_unknown_name_or_an_address_matches_nobody(directory: HealthDirectory) -> None:
    assert directory.professionals("Zoé Introuvable").count == 0
    assert directory.professionals(JEROME.address).count == 0


NAME = st.text(
    st.characters(whitelist_categories=("Lu", "Ll"), max_codepoint=0x24F), min_size=2, max_size=10
)


@settings(max_examples=200, deadline=None)
@given(first=NAME, last=NAME)
def test_person_key_ignores_order_case_accents_and_civility(first: str, last: str) -> None:
    key = person_key(f"{first} {last}")
    assume(key)
    plain = "".join(
        c
        for c in unicodedata.normalize("NFKD", f"{last.upper()}, {first}")
        if not unicodedata.combining(c)
    )
    assert person_key(f"Dr {last} {first}") == key
    assert person_key(plain) == key
    assert person_key(f"{first.swapcase()} {last.swapcase()}") == key


def test_a_missing_name_or_an_org_mailbox_is_never_suggested() -> None:
    org = _row("ORG", "secretariat@ch-rouen.mssante.fr", "", "", "", "", "")
    d = HealthDirectory.from_text(text_of(org, per("a.b@medecin.mssante.fr", first="", last="")))
    assert d.professionals("Secrétariat Rouen").count == 0
    assert len(d) == 2 and d.personal == 1 and d.organisational == 1


@settings(max_examples=150, deadline=None)
@given(names=st.lists(st.text(max_size=40), max_size=12))
def test_names_keyed_together_or_one_by_one_agree(names: list[str]) -> None:
    """The directory's names are keyed in one pass over their joined text: nothing in a
    name (line breaks, brackets, marks) may leak into its neighbour's key."""
    from leakguard._recipients.mssante import _person_keys

    assert _person_keys(names) == [person_key(n) for n in names]


def test_a_huge_line_is_one_bad_row_read_in_bounded_pieces() -> None:
    huge = "PER|" + "x" * 300_000 + "@medecin.mssante.fr" + "|" * 29
    text = text_of(per("a.b@medecin.mssante.fr"), huge, per("c.d@medecin.mssante.fr"))
    d = HealthDirectory.from_text(text)
    assert len(d) == 2 and d.bad_by_reason == {"columns": 1}
    assert [i.line for i in d.issues] == [3]
