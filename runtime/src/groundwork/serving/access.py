"""Who may call the service, and how much one request may carry.

API keys come from `API_KEYS` (comma-separated) and from the file `API_KEYS_FILE` (one a
line, as a mounted Secret gives it), both at once if set: several keys are valid at the
same time, so a key is rotated by adding the new one, moving the callers, then removing
the old one. A key is presented as `Authorization: Bearer <key>` or `X-API-Key: <key>`
and compared in constant time. Keys are never logged, and no message quotes one.

Serving without keys is for this machine only: bound to a loopback address it is
allowed (and said so); bound to any other address, as in the container, it is refused
unless `ALLOW_ANONYMOUS=true` says that anyone who reaches the port may call it.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserFacingError

# Long enough that guessing is hopeless; `secrets.token_urlsafe(32)` gives 43 characters.
MIN_KEY_LENGTH = 16
NEW_KEY_HINT = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'
# 1 MiB: about 3,000 records of 30 features; bigger batches belong to `score`.
MAX_REQUEST_BYTES = 1024 * 1024
MAX_REQUEST_RECORDS = 10_000
TRUE = {"1", "true", "yes", "on"}


class AccessError(UserFacingError):
    """The keys or limits are set wrongly; the message names the setting and the fix."""


@dataclass(frozen=True)
class Access:
    """The service's keys and request limits, read once at start-up."""

    keys: tuple[bytes, ...] = ()  # SHA-256 digests: the keys themselves are not kept
    metrics_need_key: bool = False
    max_request_bytes: int = MAX_REQUEST_BYTES
    max_request_records: int = MAX_REQUEST_RECORDS

    @property
    def open(self) -> bool:
        return not self.keys

    @property
    def open_metrics(self) -> bool:
        return self.open or not self.metrics_need_key

    def allows(self, headers: Mapping[str, str]) -> bool:
        """Whether the request's headers present one of the keys (always, with no keys)."""
        if not self.keys:
            return True
        presented = presented_key(headers)
        if presented is None:
            return False
        # Digests have one length, and every key is compared: the time taken tells neither
        # a key's length nor which key came close.
        given = key_digest(presented)
        matches = [hmac.compare_digest(given, key) for key in self.keys]
        return any(matches)


def key_digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def presented_key(headers: Mapping[str, str]) -> str | None:
    """The key in `Authorization: Bearer <key>` or `X-API-Key: <key>`, if any."""
    scheme, _, credentials = (headers.get("authorization") or "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return headers.get("x-api-key") or None


def read_keys(environ: Mapping[str, str]) -> tuple[bytes, ...]:
    """The digests of the keys in `API_KEYS` and `API_KEYS_FILE`, each checked; a bad key is
    named by its position, never quoted."""
    found = [(f"API_KEYS item {n}", key.strip())
             for n, key in enumerate(environ.get("API_KEYS", "").split(","), 1)]  # fmt: skip
    found = [(where, key) for where, key in found if key]
    key_file = environ.get("API_KEYS_FILE")
    if key_file:
        try:
            lines = Path(key_file).read_text().splitlines()
        except OSError as exc:
            raise AccessError(
                f"API_KEYS_FILE={key_file} cannot be read ({exc.strerror}): mount the key file "
                "there, or unset API_KEYS_FILE."
            ) from exc
        found += [(f"{key_file} line {n}", line.strip()) for n, line in enumerate(lines, 1)
                  if line.strip() and not line.lstrip().startswith("#")]  # fmt: skip
    for where, key in found:
        if len(key) < MIN_KEY_LENGTH or any(c.isspace() for c in key):
            raise AccessError(
                f"the API key at {where} is too short or holds a space: use keys of at least "
                f"{MIN_KEY_LENGTH} characters without spaces, e.g. from `{NEW_KEY_HINT}`."
            )
    return tuple(dict.fromkeys(key_digest(key) for _, key in found))


def _positive(environ: Mapping[str, str], name: str, default: int) -> int:
    text = environ.get(name)
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise AccessError(f"{name}={text!r}: give a whole number above 0 (default {default}).")
    return value


def access_from_environment(environ: Mapping[str, str] | None = None) -> Access:
    environ = os.environ if environ is None else environ
    return Access(
        keys=read_keys(environ),
        metrics_need_key=environ.get("METRICS_REQUIRE_KEY", "").lower() in TRUE,
        max_request_bytes=_positive(environ, "MAX_REQUEST_BYTES", MAX_REQUEST_BYTES),
        max_request_records=_positive(environ, "MAX_REQUEST_RECORDS", MAX_REQUEST_RECORDS),
    )


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def anonymous_refusal(access: Access, host: str, environ: Mapping[str, str]) -> str | None:
    """Why serving on `host` without keys is refused, or None when it may start."""
    if access.keys or is_loopback(host) or environ.get("ALLOW_ANONYMOUS", "").lower() in TRUE:
        return None
    return (
        f"no API keys, and {host} can be reached from other machines: set API_KEYS (comma-"
        "separated) or API_KEYS_FILE (one key a line), or set ALLOW_ANONYMOUS=true to let "
        f"anyone who reaches the port call it. A new key: {NEW_KEY_HINT}"
    )
