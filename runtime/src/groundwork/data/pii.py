"""Personal data (pii): how it is recognised, masked and hashed. Pure functions, no I/O.

`adopt-data` flags a column as pii by its values (e-mail addresses, phone numbers, IBANs
and card numbers that pass their checksums, IP addresses) or by its name when its values
confirm it; a pii column is never written raw: errors show `MASK` in its place, the
prediction log its keyed hash.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
from collections.abc import Callable, Collection, Iterable
from typing import Any, NamedTuple

MASK = "***"
# A column is pii by its values when at least this share of its non-missing values match
# one kind: real columns hold typos and placeholders ("n/a", "unknown"), so not all match,
# while a column of free text or codes where a few values happen to match stays a column.
VALUE_SHARE = 0.8
# Values checked per column, so that adopting a large file stays fast.
SAMPLE_VALUES = 2000
# A name alone does not make personal data: the values confirm it when some value is held by
# fewer rows than this, so that it can single out a person. A value that many rows share
# (an `address` column of "Urban" and "Rural") is no one's address.
CROWD = 5

EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}")
PHONE_CHARS = re.compile(r"[+(\d][\d\s().-]*")
DECIMAL = re.compile(r"\d+\.\d+")
IBAN = re.compile(r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}")


def is_email(text: str) -> bool:
    return EMAIL.fullmatch(text) is not None


def is_phone(text: str) -> bool:
    """9 to 15 digits (E.164's most) with the usual separators; not a decimal number, and
    digits alone only with a leading 0 (a trunk prefix), else they are any number."""
    if PHONE_CHARS.fullmatch(text) is None or DECIMAL.fullmatch(text):
        return False
    digits = sum(char.isdigit() for char in text)
    return 9 <= digits <= 15 and (not text.isdigit() or text.startswith("0"))


def is_iban(text: str) -> bool:
    """An IBAN whose check digits hold (ISO 13616 mod-97), spaces allowed."""
    compact = re.sub(r"\s", "", text).upper()
    if IBAN.fullmatch(compact) is None:
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(char, 36)) for char in rearranged)) % 97 == 1


def is_card(text: str) -> bool:
    """A payment card number (13 to 19 digits, spaces or dashes allowed) passing Luhn."""
    compact = re.sub(r"[\s-]", "", text)
    if not (compact.isdigit() and 13 <= len(compact) <= 19):
        return False
    total = 0
    for position, char in enumerate(reversed(compact)):
        digit = int(char) * (2 if position % 2 else 1)
        total += digit - 9 if digit > 9 else digit
    return total % 10 == 0


def is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


VALUE_KINDS: dict[str, Callable[[str], bool]] = {
    "e-mail addresses": is_email,
    "IBANs": is_iban,
    "card numbers": is_card,
    "IP addresses": is_ip,
    "phone numbers": is_phone,
}

# Matched against the name in snake case (`firstName`, `First Name` -> `first_name`).
PERSON = "first|last|full|given|family|middle|maiden|sur|fore|customer|client|user|person"
PERSON += "|patient|employee|contact|owner|member|holder|account_holder"
NAME_KINDS: dict[str, re.Pattern] = {
    "a person's name": re.compile(
        rf"^name$|(^|_)({PERSON})_?name$|^(surname|forename|firstname|lastname|fullname)$"
    ),
    "an e-mail address": re.compile(r"(^|_)(e_?mail|mail)(_|$)"),
    "a phone number": re.compile(r"(^|_)(phone|telephone|tel|mobile|cell|fax)(_|$)"),
    "a postal address": re.compile(
        r"(^|_)(address|addr|street|zip|zipcode|zip_code|postcode|post_code|postal_code)(_|$)"
    ),
    "a birth date": re.compile(
        r"(^|_)(dob|birthday|birth_?date|date_of_birth|birth_?day|birth_?year)(_|$)"
    ),
    "a national id": re.compile(
        r"(^|_)(national_id|ssn|social_security|passport|tax_id|tin|nino|id_card|id_number"
        r"|personal_id|identity_number|driver_?s?_licen[cs]e|licen[cs]e_number)(_|$)"
    ),
    "an IP address": re.compile(r"(^|_)ip(_address|_addr)?$"),
}


def snake_case(name: str) -> str:
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)
    return re.sub(r"[^a-z0-9]+", "_", spaced.lower()).strip("_")


def name_kind(name: str) -> str | None:
    """What the column's name says it holds, when that is personal data."""
    plain = snake_case(name)
    return next((kind for kind, rule in NAME_KINDS.items() if rule.search(plain)), None)


def value_kind(values: Iterable[str]) -> tuple[str, float] | None:
    """The kind of personal data most of `values` (non-missing, as text) look like, and the
    share that do, when that share is at least VALUE_SHARE."""
    texts = [text.strip() for text in values]
    if not texts:
        return None
    shares = {kind: sum(map(check, texts)) / len(texts) for kind, check in VALUE_KINDS.items()}
    kind = max(shares, key=shares.__getitem__)
    return (kind, shares[kind]) if shares[kind] >= VALUE_SHARE else None


class Verdict(NamedTuple):
    pii: bool
    # Why the column is personal data, or why its name was not enough; "" when nothing
    # suggests it.
    why: str


def pii_verdict(name: str, values: Iterable[str], counts: Collection[int]) -> Verdict:
    """Whether a column is personal data, and why: by its values (a sample, as text), else
    by its name confirmed by `counts`, the number of rows holding each distinct value."""
    if found := value_kind(values):
        kind, share = found
        return Verdict(True, f"{share:.0%} of values look like {kind}")
    named = name_kind(name)
    if named is None:
        return Verdict(False, "")
    why = f"the name {name!r} suggests {named}"
    if not counts:  # no value to refute it
        return Verdict(True, why)
    rare = sum(count < CROWD for count in counts)
    if rare:
        return Verdict(
            True,
            f"{why}, and {rare} of its {len(counts)} distinct values are each held by fewer "
            f"than {CROWD} rows, so they can single out a person",
        )
    return Verdict(
        False,
        f"{why}, but each of its {len(counts)} distinct values is held by {CROWD} rows or "
        "more, so none singles out a person",
    )


def mask(value: Any) -> Any:
    """A pii value as a message may show it: MASK, or None for a missing one."""
    return None if value is None else MASK


def masked(value: Any, pii: Collection[str]) -> Any:
    """`value` with whatever sits under a pii name masked, at any depth of dicts and lists."""
    if isinstance(value, dict):
        return {key: mask(item) if key in pii else masked(item, pii) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [masked(item, pii) for item in value]
    return value


def keyed_hash(value: Any, key: bytes) -> str:
    """HMAC-SHA256 (hex) of `str(value)` in UTF-8: the same value and key give the same
    hash, so logs can still be joined on it, while the value cannot be read back."""
    return hmac.new(key, str(value).encode("utf-8"), hashlib.sha256).hexdigest()
