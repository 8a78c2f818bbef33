"""Recipient guard: lookalike addresses, typo and homoglyph domains, display names."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from rapidfuzz.distance import OSA

from leakguard.core import Finding, Location, Severity
from leakguard.recipients import (
    TRUE_DOMAINS,
    Directory,
    RecipientGuard,
    name_key,
    skeleton,
    typo_domains,
)

TO = Location.header("to")
CC = Location.header("cc")

COLLEAGUES = [
    ("jean.dupont@chu-rouen.fr", "Jérôme Dupont"),
    ("marie.lefebvre@chu-rouen.fr", "Marie Lefèbvre"),
    ("martin@chu-rouen.fr", None),
    ("secretariat.cardio@chu-rouen.fr", "Secrétariat Cardiologie"),
    ("paul.durand@gmail.com", "Paul Durand"),
    # Two colleagues one edit apart: neither may ever be reported.
    ("anne.roux@ch-havre.fr", "Anne Roux"),
    ("anne.roux2@ch-havre.fr", "Anne Roux (2)"),
    ("d.moreau@ch-havre.fr", "Denis Moreau"),
]


@pytest.fixture(scope="module")
def directory() -> Directory:
    return Directory.from_addresses(COLLEAGUES)


@pytest.fixture(scope="module")
def guard(directory: Directory) -> RecipientGuard:
    return RecipientGuard(directory)


def one(guard: RecipientGuard, address: str, display: str = "") -> list[Finding]:
    return guard.check([(display, address, TO)])


def kinds(findings: list[Finding]) -> list[str]:
    return [f.kind for f in findings]


# --------------------------------------------------------------------------- colleagues


@pytest.mark.parametrize(
    "address",
    [
        "jean.dupont@chu-rouen.fr",
        "Jean.Dupont@CHU-Rouen.FR",
        "  jean.dupont@chu-rouen.fr ",
        "anne.roux@ch-havre.fr",
        "anne.roux2@ch-havre.fr",
        "martin@chu-rouen.fr",
    ],
)
def test_colleague_is_never_reported(guard: RecipientGuard, address: str) -> None:
    assert one(guard, address) == []
    assert one(guard, address, display="Jérôme Dupont") == []
    assert guard.lookalikes(address) == []


def test_two_colleagues_one_edit_apart_are_both_silent(guard: RecipientGuard) -> None:
    assert OSA.distance("anne.roux@ch-havre.fr", "anne.roux2@ch-havre.fr") == 1
    findings = guard.check(
        [("", "anne.roux@ch-havre.fr", TO), ("Anne Roux", "anne.roux2@ch-havre.fr", CC)]
    )
    assert findings == []


def test_outsider_near_both_colleagues_is_reported_with_the_nearest(
    guard: RecipientGuard,
) -> None:
    (finding,) = one(guard, "anne.roux3@ch-havre.fr")
    assert finding.kind == "lookalike_recipient"
    # Both are one edit away; ties go to the first address in order.
    assert finding.similar_to == "anne.roux2@ch-havre.fr"
    assert finding.distance == 1
    found = {m.address: m.distance for m in guard.lookalikes("anne.roux3@ch-havre.fr")}
    assert found == {"anne.roux2@ch-havre.fr": 1, "anne.roux@ch-havre.fr": 1}


# --------------------------------------------------------------------------- one edit


@pytest.mark.parametrize(
    ("recipient", "operation"),
    [
        ("jean.dupond@chu-rouen.fr", "substitution"),
        ("jean.dupontt@chu-rouen.fr", "insertion"),
        ("jean.dupnt@chu-rouen.fr", "deletion"),
        ("jaen.dupont@chu-rouen.fr", "transposition"),
        ("jean.duopnt@chu-rouen.fr", "transposition"),
        ("ejan.dupont@chu-rouen.fr", "transposition at the start"),
        ("xjean.dupont@chu-rouen.fr", "insertion at the start"),
        ("jeandupont@chu-rouen.fr", "deletion of the dot"),
    ],
)
def test_each_single_edit_is_a_lookalike(
    guard: RecipientGuard, recipient: str, operation: str
) -> None:
    findings = guard.check([("", recipient, CC)])
    assert kinds(findings) == ["lookalike_recipient"], operation
    (finding,) = findings
    assert finding.recipient == recipient
    assert finding.similar_to == "jean.dupont@chu-rouen.fr"
    assert finding.distance == 1
    assert finding.severity is Severity.HIGH
    assert finding.location == CC
    assert finding.detail is None


def test_two_edits_are_not_a_lookalike_by_default(guard: RecipientGuard) -> None:
    assert one(guard, "jaen.dupond@chu-rouen.fr") == []


def test_long_addresses_may_allow_two_edits(directory: Directory) -> None:
    long_guard = RecipientGuard(directory, long_address_distance=2, long_address_length=24)
    # 24 characters: long enough for distance 2.
    (finding,) = long_guard.check([("", "jaen.dupond@chu-rouen.fr", TO)])
    assert finding.kind == "lookalike_recipient"
    assert finding.distance == 2
    # martin@chu-rouen.fr is short: two edits stay silent, one edit is reported.
    assert long_guard.check([("", "mratin@chu-rouen.fr", TO)]) != []
    assert long_guard.check([("", "mratni@chu-rouen.fr", TO)]) == []


def test_max_distance_zero_turns_edit_lookalikes_off(directory: Directory) -> None:
    strict = RecipientGuard(directory, max_distance=0)
    assert strict.check([("", "jean.dupond@chu-rouen.fr", TO)]) == []


@pytest.mark.parametrize(
    "options",
    [
        {"max_distance": 3},
        {"max_distance": -1},
        {"long_address_distance": 5},
        {"long_address_length": 0},
    ],
)
def test_bad_settings_are_refused(directory: Directory, options: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        RecipientGuard(directory, **options)  # type: ignore[arg-type]


def test_acknowledged_pair_stays_silent(directory: Directory) -> None:
    acked = RecipientGuard(
        directory, acknowledged=[("Jean.Dupond@chu-rouen.fr", "jean.dupont@chu-rouen.fr")]
    )
    assert acked.check([("", "jean.dupond@chu-rouen.fr", TO)]) == []
    # Only that pair: another lookalike of the same colleague is still reported.
    assert kinds(acked.check([("", "jean.dupont@chu-rouen.fe", TO)])) == ["lookalike_domain"]
    assert kinds(acked.check([("", "jean.dupon@chu-rouen.fr", TO)])) == ["lookalike_recipient"]


def test_acknowledged_domain_pair_stays_silent(directory: Directory) -> None:
    acked = RecipientGuard(directory, acknowledged=[("someone@gmial.com", "gmail.com")])
    assert acked.check([("", "someone@gmial.com", TO)]) == []
    assert kinds(acked.check([("", "other@gmial.com", TO)])) == ["lookalike_domain"]


# --------------------------------------------------------------------------- domains


def test_colleague_local_part_at_a_near_domain(guard: RecipientGuard) -> None:
    for recipient in (
        "jean.dupont@chu-rouem.fr",
        "jean.dupont@chu-rouen.fe",
        "jean.dupont@chu-ruoen.fr",
        "jean.dupont@chu-rouen.frr",
    ):
        (finding,) = one(guard, recipient)
        assert finding.kind == "lookalike_domain", recipient
        assert finding.similar_to == "chu-rouen.fr"
        assert finding.severity is Severity.HIGH


@pytest.mark.parametrize(
    ("domain", "right"),
    [
        ("gmial.com", "gmail.com"),
        ("gmal.com", "gmail.com"),
        ("gmail.co", "gmail.com"),
        ("gmail.fr", "gmail.com"),
        ("gmaill.com", "gmail.com"),
        ("hotmial.fr", "hotmail.fr"),
        ("hotmail.frr", "hotmail.fr"),
        ("hotmal.com", "hotmail.com"),
        ("outlok.fr", "outlook.fr"),
        ("outlook.cm", "outlook.com"),
        ("yahooo.fr", "yahoo.fr"),
        ("yaho.com", "yahoo.com"),
        ("orange.ff", "orange.fr"),
        ("oragne.fr", "orange.fr"),
        ("wanado.fr", "wanadoo.fr"),
        ("wanadoo.com", "wanadoo.fr"),
        ("laposte.nte", "laposte.net"),
        ("lapost.net", "laposte.net"),
        ("free.ff", "free.fr"),
        ("frree.fr", "free.fr"),
        ("sfr.ff", "sfr.fr"),
        ("srf.fr", "sfr.fr"),
        ("live.ff", "live.fr"),
        ("icoud.com", "icloud.com"),
        ("iclloud.com", "icloud.com"),
        ("icloude.com", "icloud.com"),
    ],
)
def test_known_typo_domains(guard: RecipientGuard, domain: str, right: str) -> None:
    (finding,) = one(guard, f"patient.x@{domain}")
    assert finding.kind == "lookalike_domain"
    assert finding.recipient == f"patient.x@{domain}"
    assert finding.similar_to == right


@pytest.mark.parametrize("domain", TRUE_DOMAINS)
def test_every_typo_family_is_generated(domain: str) -> None:
    """Each true domain's family has its slips of every kind, and only its own."""
    table = typo_domains()
    name, _, tld = domain.rpartition(".")
    doubled = f"{name[0]}{name}.{tld}"
    swapped = f"{name[1]}{name[0]}{name[2:]}.{tld}"
    tld_slip = f"{name}.{tld[0]}{tld}"
    for typo in (doubled, swapped, tld_slip):
        if typo not in TRUE_DOMAINS:
            assert table.get(typo) == domain, typo
    if len(name) >= 5:
        dropped = f"{name[:-1]}.{tld}"
        assert table.get(dropped) == domain, dropped
    family = [t for t, right in table.items() if right == domain]
    assert len(family) >= 10
    assert all(OSA.distance(t, domain) <= 4 for t in family)
    assert domain not in table


@pytest.mark.parametrize(
    "domain",
    [*TRUE_DOMAINS, "orange.com", "sfr.com", "tree.fr", "life.fr", "chu-lyon.fr", "ch-havre.fr"],
)
def test_real_domains_are_not_typos(guard: RecipientGuard, domain: str) -> None:
    assert one(guard, f"someone.else@{domain}") == []


def test_extra_typo_domains(directory: Directory) -> None:
    extra = RecipientGuard(directory, extra_typo_domains={"CHU-RUOEN.fr": "chu-rouen.fr"})
    (finding,) = extra.check([("", "anyone@chu-ruoen.fr", TO)])
    assert (finding.kind, finding.similar_to) == ("lookalike_domain", "chu-rouen.fr")


def test_a_directory_domain_is_never_a_typo() -> None:
    # An organisation whose own domain happens to look like a typo of a webmail.
    own = Directory.from_addresses(["accueil@gmal.com"])
    assert RecipientGuard(own).check([("", "someone@gmal.com", TO)]) == []


# --------------------------------------------------------------------------- homoglyphs


@pytest.mark.parametrize(
    ("recipient", "why"),
    [
        ("j\u0435an.dup\u043ent@chu-rouen.fr", "Cyrillic e and o"),
        ("jean.dup\u03bfnt@chu-rouen.fr", "Greek omicron"),
        ("\uff4aean.dupont@chu-rouen.fr", "fullwidth j"),
        ("\u0458\u0435\u0430n.dupont@chu-rouen.fr", "three Cyrillic letters"),
        ("rnartin@chu-rouen.fr", "rn for m"),
    ],
)
def test_homoglyph_of_a_colleague(guard: RecipientGuard, recipient: str, why: str) -> None:
    findings = one(guard, recipient)
    assert kinds(findings) == ["lookalike_recipient"], why
    (finding,) = findings
    assert finding.detail in ("homoglyph", None)
    assert finding.similar_to in ("jean.dupont@chu-rouen.fr", "martin@chu-rouen.fr")
    assert skeleton(recipient) == skeleton(finding.similar_to or "")


def test_many_homoglyphs_are_caught_though_far_in_edits(guard: RecipientGuard) -> None:
    recipient = "\u0458\u0435\u0430n.dup\u043ent@chu-rouen.fr"
    (finding,) = one(guard, recipient)
    assert finding.detail == "homoglyph"
    assert finding.distance is not None and finding.distance >= 3


@pytest.mark.parametrize(
    "recipient",
    [
        "someone@gm\u0430il.com",  # Cyrillic a
        "someone@xn--gmil-63d.com",  # the same, as punycode
        "SOMEONE@GM\u0410IL.COM",  # Cyrillic capital A
    ],
)
def test_homoglyph_webmail_domain(guard: RecipientGuard, recipient: str) -> None:
    (finding,) = one(guard, recipient)
    assert finding.kind == "lookalike_domain"
    assert finding.similar_to == "gmail.com"
    assert finding.recipient == "someone@gm\u0430il.com"


def test_homoglyph_of_the_colleagues_domain_with_any_local_part(guard: RecipientGuard) -> None:
    for recipient in ("nobody@chu-r\u043euen.fr", "nobody@xn--chu-ruen-rbh.fr"):
        (finding,) = one(guard, recipient)
        assert finding.kind == "lookalike_domain", recipient
        assert finding.similar_to == "chu-rouen.fr"


def test_a_colleagues_domain_followed_by_another_is_a_lookalike(guard: RecipientGuard) -> None:
    for recipient in ("jean.dupont@chu-rouen.fr.example.net", "x@chu-rouen.fr.mail.example.org"):
        (finding,) = one(guard, recipient)
        assert (finding.kind, finding.similar_to) == ("lookalike_domain", "chu-rouen.fr")
    # A country's copy of a webmail adds one label: another provider, not a lookalike.
    assert one(guard, "someone@gmail.com.br") == []
    assert one(guard, "someone@chu-rouen.fr.br") == []


def test_punycode_domain_is_one_canonical_form(directory: Directory) -> None:
    idn = Directory.from_addresses(["chef@bücher.example", "x@XN--BCHER-KVA.example"])
    assert "chef@xn--bcher-kva.example" in idn
    assert "CHEF@BÜCHER.EXAMPLE" in idn
    assert [c.address for c in idn] == ["chef@bücher.example", "x@bücher.example"]
    assert RecipientGuard(idn).check([("", "chef@xn--bcher-kva.example", TO)]) == []


def test_skeleton_follows_uts39() -> None:
    assert skeleton("p\u0430ypal") == skeleton("paypal")  # Cyrillic a
    assert skeleton("\uff50aypal") == skeleton("paypal")  # fullwidth p
    assert skeleton("g00gle") == skeleton("google")
    assert skeleton("rn") == skeleton("m")
    assert skeleton("Jean") == skeleton("jean")
    assert skeleton("jean") != skeleton("joan")


# --------------------------------------------------------------------------- display names


@pytest.mark.parametrize(
    "display",
    [
        "Jérôme Dupont",
        "JEROME DUPONT",
        "jerome dupont",
        "Dupont, Jérôme",
        "DUPONT Jérôme",
        "Dr Jérôme Dupont",
        "  Jérôme   Dupont ",
        "Marie Lefebvre",
        "secretariat cardiologie",
    ],
)
def test_colleague_name_over_a_foreign_address(guard: RecipientGuard, display: str) -> None:
    (finding,) = one(guard, "famille.martin@yahoo.fr", display=display)
    assert finding.kind == "display_name_mismatch"
    assert finding.recipient == "famille.martin@yahoo.fr"
    assert finding.severity is Severity.MEDIUM
    assert finding.similar_to in (
        "Jérôme Dupont <jean.dupont@chu-rouen.fr>",
        "Marie Lefèbvre <marie.lefebvre@chu-rouen.fr>",
        "Secrétariat Cardiologie <secretariat.cardio@chu-rouen.fr>",
    )


def test_colleague_address_as_display_name(guard: RecipientGuard) -> None:
    (finding,) = one(guard, "x.y@outlook.com", display="jean.dupont@chu-rouen.fr")
    assert (finding.kind, finding.similar_to) == (
        "display_name_mismatch",
        "jean.dupont@chu-rouen.fr",
    )


@pytest.mark.parametrize("display", ["", "Jean", "Jérôme Durand", "Dupont Jean-Marc", "A B"])
def test_other_names_are_not_mismatches(guard: RecipientGuard, display: str) -> None:
    assert one(guard, "famille.martin@yahoo.fr", display=display) == []


def test_name_and_lookalike_are_both_reported(guard: RecipientGuard) -> None:
    findings = one(guard, "jean.dupond@chu-rouen.fr", display="Jérôme Dupont")
    assert sorted(kinds(findings)) == ["display_name_mismatch", "lookalike_recipient"]


def test_name_key_ignores_accents_case_order_and_titles() -> None:
    assert name_key("Dr DUPONT, Jérôme") == name_key("jerome dupont") == "dupont jerome"
    assert name_key("Ñoño Pérez") == name_key("nono perez")
    assert name_key("Al") == ""


# --------------------------------------------------------------------------- messages


def test_findings_read_in_french_and_english(guard: RecipientGuard) -> None:
    findings = guard.check(
        [
            ("", "jean.dupond@chu-rouen.fr", TO),
            ("", "x@gmial.com", TO),
            ("Jérôme Dupont", "jd@free.fr", TO),
        ]
    )
    assert kinds(findings) == ["lookalike_recipient", "lookalike_domain", "display_name_mismatch"]
    en = [f.message("en") for f in findings]
    fr = [f.message("fr") for f in findings]
    assert en[0] == (
        "jean.dupond@chu-rouen.fr is not a colleague but is 1 keystroke(s) away from "
        "jean.dupont@chu-rouen.fr: autocomplete error?"
    )
    assert fr[1] == "Le domaine de x@gmial.com ressemble à gmail.com sans être le même."
    assert fr[2] == (
        "jd@free.fr porte le nom du collègue Jérôme Dupont <jean.dupont@chu-rouen.fr> "
        "mais n'est pas son adresse."
    )
    as_json = findings[0].to_dict()
    assert as_json["recipient"] == "jean.dupond@chu-rouen.fr"
    assert as_json["similar_to"] == "jean.dupont@chu-rouen.fr"
    assert as_json["distance"] == 1


def test_unparseable_recipient_is_still_compared(guard: RecipientGuard) -> None:
    # email-validator refuses this address; the guard must still see the lookalike.
    (finding,) = one(guard, "jean..dupont@chu-rouen.fr")
    assert finding.kind == "lookalike_recipient"


def test_empty_directory_reports_only_domains() -> None:
    empty = RecipientGuard(Directory.from_addresses(()))
    assert empty.check([("", "a@b.fr", TO)]) == []
    assert kinds(empty.check([("", "a@gmial.com", TO)])) == ["lookalike_domain"]


# --------------------------------------------------------------------------- properties

LOCALS = st.text(alphabet="abcdefghijknopqrstuvwxyz", min_size=3, max_size=12)
DOMAINS = st.sampled_from(["hopital-nord.fr", "clinique-sud.fr", "cabinet-est.fr"])
EDIT_ALPHABET = "abcdefghijknopqrstuvwxyz"


@st.composite
def directories(draw: st.DrawFn) -> list[str]:
    locals_ = draw(st.lists(LOCALS, min_size=1, max_size=25, unique=True))
    return [f"{local}@{draw(DOMAINS)}" for local in locals_]


def _mutate(address: str, op: int, pos: int, char: str) -> str:
    local, _, domain = address.partition("@")
    i = pos % len(local)
    if op == 0:
        local = local[:i] + char + local[i + 1 :]
    elif op == 1:
        local = local[:i] + char + local[i:]
    elif op == 2 and len(local) > 1:
        local = local[:i] + local[i + 1 :]
    else:
        i = min(i, len(local) - 2)
        local = local[:i] + local[i + 1] + local[i] + local[i + 2 :]
    return f"{local}@{domain}"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    addresses=directories(),
    which=st.integers(min_value=0),
    op=st.integers(min_value=0, max_value=3),
    pos=st.integers(min_value=0),
    char=st.sampled_from(EDIT_ALPHABET),
)
def test_one_edit_from_a_colleague_is_always_flagged(
    addresses: list[str], which: int, op: int, pos: int, char: str
) -> None:
    colleague = addresses[which % len(addresses)]
    recipient = _mutate(colleague, op, pos, char)
    assume(recipient not in addresses)
    guard = RecipientGuard(Directory.from_addresses(addresses))
    found = {m.address: m.distance for m in guard.lookalikes(recipient)}
    assert found.get(colleague) == OSA.distance(recipient, colleague) == 1
    findings = guard.check([("", recipient, TO)])
    assert kinds(findings) == ["lookalike_recipient"]
    assert findings[0].distance == 1


@settings(max_examples=150, deadline=None)
@given(addresses=directories(), local=LOCALS, domain=DOMAINS)
def test_three_edits_from_everyone_is_never_flagged(
    addresses: list[str], local: str, domain: str
) -> None:
    recipient = f"{local}@{domain}"
    assume(all(OSA.distance(recipient, a) >= 3 for a in addresses))
    guard = RecipientGuard(Directory.from_addresses(addresses))
    assert guard.lookalikes(recipient) == []
    assert guard.check([("", recipient, TO)]) == []
