"""Loading the colleagues' directory: CSV, Outlook exports, plain lists, vCard, LDIF."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from leakguard.errors import DirectoryError
from leakguard.recipients import Colleague, Directory, DirectoryIssue, DirectoryLoadError


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def pairs(directory: Directory) -> list[tuple[str, str | None]]:
    return [(c.address, c.name) for c in directory]


# --------------------------------------------------------------------------- CSV


def test_csv_with_email_and_name(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "equipe.csv",
        "email,name\n"
        "Jean.Dupont@CHU-Rouen.fr,Jean Dupont\n"
        "marie.curie@chu-rouen.fr,Marie Curie\n"
        "\n"
        "pas-une-adresse,Quelqu'un\n"
        "jean.dupont@chu-rouen.fr,Jean D.\n"
        "paul@chu-rouen.fr,\n",
    )
    directory = Directory.load(path)
    assert pairs(directory) == [
        ("jean.dupont@chu-rouen.fr", "Jean Dupont"),
        ("marie.curie@chu-rouen.fr", "Marie Curie"),
        ("paul@chu-rouen.fr", None),
    ]
    assert directory.issues == (
        DirectoryIssue(
            5,
            "invalid e-mail address 'pas-une-adresse': An email address must have an @-sign.",
            "adresse électronique invalide « pas-une-adresse »",
        ),
        DirectoryIssue(
            6,
            "duplicate of line 2 (jean.dupont@chu-rouen.fr)",
            "doublon de la ligne 2 (jean.dupont@chu-rouen.fr)",
        ),
    )
    assert directory.issues[1].message("fr") == (
        "ligne 6 : doublon de la ligne 2 (jean.dupont@chu-rouen.fr)"
    )
    assert len(directory) == 3
    assert directory.source == str(path)


def test_csv_semicolon_and_quotes(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "liste.csv",
        'Nom;Courriel\n"Dupont; Jean";jean.dupont@chu-rouen.fr\nCurie;marie.curie@chu-rouen.fr\n',
    )
    assert pairs(Directory.load(path)) == [
        ("jean.dupont@chu-rouen.fr", "Dupont; Jean"),
        ("marie.curie@chu-rouen.fr", "Curie"),
    ]


def test_csv_row_without_address_is_an_issue(tmp_path: Path) -> None:
    path = write(tmp_path, "a.csv", "email,name\na@chu.fr,A\n,Sans Adresse\n")
    directory = Directory.load(path)
    assert [(i.line, i.reason) for i in directory.issues] == [(3, "no e-mail address on this line")]


def test_outlook_english_export(tmp_path: Path) -> None:
    header = (
        '"First Name","Middle Name","Last Name","Title","Suffix","Nickname",'
        '"E-mail Address","E-mail Type","E-mail Display Name","E-mail 2 Address",'
        '"E-mail 2 Type","Business Phone"'
    )
    rows = [
        '"Jean","","Dupont","","","","jean.dupont@chu-rouen.fr","SMTP",'
        '"Jean Dupont (jean.dupont@chu-rouen.fr)","jdupont@gmail.com","SMTP","0102030405"',
        '"Marie","Anne","Curie","","","","marie.curie@chu-rouen.fr","SMTP","","","",""',
    ]
    path = write(tmp_path, "contacts.csv", "\r\n".join([header, *rows]) + "\r\n")
    assert pairs(Directory.load(path)) == [
        ("jean.dupont@chu-rouen.fr", "Jean Dupont"),
        ("jdupont@gmail.com", "Jean Dupont"),
        ("marie.curie@chu-rouen.fr", "Marie Anne Curie"),
    ]


def test_outlook_french_export_in_windows_code_page(tmp_path: Path) -> None:
    header = '"Prénom","Deuxième prénom","Nom","Adresse de messagerie","Type de messagerie"'
    row = '"Hélène","","Lefèvre","helene.lefevre@chu-rouen.fr","SMTP"'
    path = write(tmp_path, "contacts.csv", f"{header}\r\n{row}\r\n", encoding="cp1252")
    assert pairs(Directory.load(path)) == [("helene.lefevre@chu-rouen.fr", "Hélène Lefèvre")]


def test_csv_without_header(tmp_path: Path) -> None:
    path = write(tmp_path, "sans-entete.csv", "Jean Dupont,jean.dupont@chu.fr\nb@chu.fr,B\n")
    assert pairs(Directory.load(path)) == [
        ("jean.dupont@chu.fr", "Jean Dupont"),
        ("b@chu.fr", "B"),
    ]


def test_csv_without_an_email_column_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "mauvais.csv", "nom,telephone\nDupont,0102030405\n")
    with pytest.raises(DirectoryError) as info:
        Directory.load(path)
    assert str(info.value) == (
        f"{path}, line 1: no e-mail column; name one column email "
        "(or E-mail Address, Adresse de messagerie, courriel)."
    )
    assert isinstance(info.value, DirectoryLoadError)
    assert info.value.message_fr == (
        f"{path}, ligne 1 : aucune colonne d'adresse ; nommez une colonne email "
        "(ou E-mail Address, Adresse de messagerie, courriel)."
    )
    assert info.value.code == "directory"


# --------------------------------------------------------------------------- plain list


def test_plain_list(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "collegues.txt",
        "# équipe de cardiologie\n"
        "jean.dupont@chu-rouen.fr\n"
        "\n"
        "Marie Curie <marie.curie@chu-rouen.fr>\n"
        "jean dupont chez chu\n"
        "JEAN.DUPONT@chu-rouen.fr\n",
    )
    directory = Directory.load(path)
    assert pairs(directory) == [
        ("jean.dupont@chu-rouen.fr", None),
        ("marie.curie@chu-rouen.fr", "Marie Curie"),
    ]
    assert [(i.line, i.reason_fr) for i in directory.issues] == [
        (5, "adresse électronique invalide « jean dupont chez chu »"),
        (6, "doublon de la ligne 2 (jean.dupont@chu-rouen.fr)"),
    ]


def test_single_column_with_header_in_a_text_file(tmp_path: Path) -> None:
    path = write(tmp_path, "liste.txt", "E-mail\njean@chu.fr\nmarie@chu.fr\n")
    directory = Directory.load(path)
    assert pairs(directory) == [("jean@chu.fr", None), ("marie@chu.fr", None)]
    assert directory.issues == ()


# --------------------------------------------------------------------------- vCard


def test_vcard_three(tmp_path: Path) -> None:
    text = (
        "BEGIN:VCARD\r\n"
        "VERSION:3.0\r\n"
        "N:Dupont;Jean;;;\r\n"
        "FN:Jean Dupont\\, cardiologue\r\n"
        "EMAIL;TYPE=INTERNET,WORK:jean.dupont@chu-\r\n"
        " rouen.fr\r\n"
        "item1.EMAIL;TYPE=INTERNET:jdupont@gmail.com\r\n"
        "END:VCARD\r\n"
        "BEGIN:VCARD\r\n"
        "VERSION:3.0\r\n"
        "N:Curie;Marie;;;\r\n"
        "TEL:0102030405\r\n"
        "END:VCARD\r\n"
        "BEGIN:VCARD\r\n"
        "VERSION:3.0\r\n"
        "N:Martin;Paul;;;\r\n"
        "EMAIL:paul.martin@chu-rouen\r\n"
        "END:VCARD\r\n"
    )
    directory = Directory.load(write(tmp_path, "contacts.vcf", text))
    assert pairs(directory) == [
        ("jean.dupont@chu-rouen.fr", "Jean Dupont, cardiologue"),
        ("jdupont@gmail.com", "Jean Dupont, cardiologue"),
    ]
    assert [(i.line, i.reason) for i in directory.issues] == [
        (9, "contact card without an e-mail address"),
        (
            17,
            "invalid e-mail address 'paul.martin@chu-rouen': The part after the @-sign is "
            "not valid. It should have a period.",
        ),
    ]


def test_vcard_two_one_quoted_printable(tmp_path: Path) -> None:
    text = (
        "BEGIN:VCARD\n"
        "VERSION:2.1\n"
        "N;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:Lef=C3=A8vre;H=C3=A9l=C3=A8ne\n"
        "EMAIL;INTERNET:helene.lefevre@chu-rouen.fr\n"
        "END:VCARD\n"
        "BEGIN:VCARD\n"
        "VERSION:2.1\n"
        "N:Sans;Fin\n"
        "EMAIL:sans.fin@chu-rouen.fr\n"
    )
    directory = Directory.load(write(tmp_path, "export.vcf", text))
    assert pairs(directory) == [("helene.lefevre@chu-rouen.fr", "Hélène Lefèvre")]
    assert [(i.line, i.reason) for i in directory.issues] == [
        (6, "contact card not closed by END:VCARD; its addresses are ignored")
    ]


def test_vcard_sniffed_from_content_and_refused_when_not_one(tmp_path: Path) -> None:
    path = write(tmp_path, "contacts.txt", "BEGIN:VCARD\nEMAIL:a@chu.fr\nEND:VCARD\n")
    assert pairs(Directory.load(path)) == [("a@chu.fr", None)]
    bad = write(tmp_path, "bad.vcf", "hello\nworld\n")
    with pytest.raises(DirectoryError) as info:
        Directory.load(bad)
    assert str(info.value) == f"{bad}, line 1: not a vCard file (no BEGIN:VCARD)."


# --------------------------------------------------------------------------- LDIF


def test_ldif(tmp_path: Path) -> None:
    cn = base64.b64encode("Hélène Lefèvre".encode()).decode()
    text = (
        "version: 1\n"
        "# export de l'annuaire\n"
        "dn: ou=people,dc=chu-rouen,dc=fr\n"
        "objectClass: organizationalUnit\n"
        "ou: people\n"
        "\n"
        "dn: uid=hlefevre,ou=people,dc=chu-rouen,dc=fr\n"
        "objectClass: inetOrgPerson\n"
        f"cn:: {cn}\n"
        "sn: Lefevre\n"
        "mail: helene.lefevre@chu-\n"
        " rouen.fr\n"
        "mail: h.lefevre@chu-rouen.fr\n"
        "\n"
        "dn: uid=pmartin,ou=people,dc=chu-rouen,dc=fr\n"
        "objectClass: inetOrgPerson\n"
        "cn: Paul Martin\n"
        "sn: Martin\n"
        "\n"
        "dn: uid=jd,ou=people,dc=chu-rouen,dc=fr\n"
        "givenName: Jean\n"
        "sn: Dupont\n"
        "mail: jean.dupont@chu-rouen.fr\n"
        "mail: h.lefevre@chu-rouen.fr\n"
        "bogus line\n"
    )
    directory = Directory.load(write(tmp_path, "annuaire.ldif", text))
    assert pairs(directory) == [
        ("helene.lefevre@chu-rouen.fr", "Hélène Lefèvre"),
        ("h.lefevre@chu-rouen.fr", "Hélène Lefèvre"),
        ("jean.dupont@chu-rouen.fr", "Jean Dupont"),
    ]
    assert [(i.line, i.reason) for i in directory.issues] == [
        (15, "directory entry without a mail attribute"),
        (24, "duplicate of line 13 (h.lefevre@chu-rouen.fr)"),
        (25, "not an LDIF attribute line"),
    ]


def test_ldif_without_dn_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "vide.ldif", "# rien\nmail: a@b.fr\n")
    with pytest.raises(DirectoryError) as info:
        Directory.load(path)
    assert str(info.value) == f"{path}, line 1: not an LDIF file (no dn: line)."


# --------------------------------------------------------------------------- bad files


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.csv"
    with pytest.raises(DirectoryError) as info:
        Directory.load(path)
    assert str(info.value) == (f"Cannot read the colleagues' directory {path}: file not found.")
    assert isinstance(info.value, DirectoryLoadError)
    assert info.value.message_fr == (
        f"Impossible de lire l'annuaire des collègues {path} : fichier introuvable."
    )


def test_folder_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(DirectoryError) as info:
        Directory.load(tmp_path)
    assert str(info.value) == (
        f"Cannot read the colleagues' directory {tmp_path}: it is a folder, not a file."
    )


def test_empty_file(tmp_path: Path) -> None:
    path = write(tmp_path, "vide.txt", "\n  \n")
    with pytest.raises(DirectoryError) as info:
        Directory.load(path)
    assert str(info.value) == f"The colleagues' directory {path} is empty."


def test_binary_file(tmp_path: Path) -> None:
    path = tmp_path / "image.csv"
    path.write_bytes(b"email\nabc\n\x89PNG\x00\x00")
    with pytest.raises(DirectoryError) as info:
        Directory.load(path)
    assert str(info.value) == f"{path} is not a text file (line 3 holds binary data)."


def test_file_without_any_valid_address(tmp_path: Path) -> None:
    path = write(tmp_path, "faux.txt", "jean\npierre\n")
    with pytest.raises(DirectoryError) as info:
        Directory.load(path)
    assert str(info.value) == (
        f"{path}: no valid e-mail address; first problem at line 1: invalid e-mail "
        "address 'jean': An email address must have an @-sign."
    )
    assert isinstance(info.value, DirectoryLoadError)
    assert info.value.message_fr == (
        f"{path} : aucune adresse électronique valide ; premier problème à la ligne 1 : "
        "adresse électronique invalide « jean »."
    )


def test_csv_with_header_only(tmp_path: Path) -> None:
    path = write(tmp_path, "entete.csv", "email,name\n")
    with pytest.raises(DirectoryError) as info:
        Directory.load(path)
    assert str(info.value) == f"{path}: no e-mail address found."


# --------------------------------------------------------------------------- the object


def test_directory_reading() -> None:
    directory = Directory.from_addresses(
        [("Jean.Dupont@Chu.fr", "Jean Dupont"), "marie@chu.fr", "oops", ("marie@CHU.fr", "M")]
    )
    assert len(directory) == 2
    assert "JEAN.DUPONT@CHU.FR" in directory
    assert "nobody@chu.fr" not in directory
    assert 42 not in directory
    assert list(directory) == [
        Colleague("jean.dupont@chu.fr", "Jean Dupont"),
        Colleague("marie@chu.fr", "M"),
    ]
    assert directory.get("Marie@chu.fr") == Colleague("marie@chu.fr", "M")
    assert directory.get("x@chu.fr") is None
    assert directory.domains == frozenset({"chu.fr"})
    assert [(i.line, i.reason_fr) for i in directory.issues] == [
        (3, "adresse électronique invalide « oops »"),
        (4, "doublon de la ligne 2 (marie@chu.fr)"),
    ]
    assert repr(directory) == "Directory(colleagues=2, issues=2)"


def test_normalise() -> None:
    assert Directory.normalise(" Jean.Dupont@CHU-Rouen.FR ") == "jean.dupont@chu-rouen.fr"
    assert Directory.normalise("a@xn--bcher-kva.example") == "a@bücher.example"
    with pytest.raises(ValueError, match="must have an @-sign"):
        Directory.normalise("jean")


JUNK = st.text(max_size=300) | st.binary(max_size=300).map(lambda b: b.decode("latin-1"))


@settings(max_examples=100, deadline=None)
@given(text=JUNK, suffix=st.sampled_from([".csv", ".txt", ".vcf", ".ldif", ""]))
@example(text="::\x80", suffix=".ldif")  # a Base64 value with a character beyond ASCII
@example(text="dn:: w6k=\nmail:: \u00e9@x.fr\n", suffix=".ldif")
def test_junk_files_load_or_raise_directory_error(
    tmp_path_factory: pytest.TempPathFactory, text: str, suffix: str
) -> None:
    path = tmp_path_factory.mktemp("junk") / f"annuaire{suffix}"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        directory = Directory.load(path)
    except DirectoryError as exc:
        assert str(exc).strip()
        assert isinstance(exc, DirectoryLoadError) and exc.message_fr.strip()
    else:
        assert len(directory) >= 1
        assert all(issue.line >= 1 for issue in directory.issues)
