"""The key that keeps anonymous reporters anonymous, where it comes from, and what it does.

The adversary this is built against holds a copy of the database (every backup is
one) and the logs. So the key never lives in the database: it comes from
`BUURTBOT_SECRET` or from the file `BUURTBOT_SECRET_FILE` (made once with
`python -m bot secret init`), kept outside the data folder. Sandbox mode, where
nothing real is at stake, may run on a throwaway key.

From the one master key, HKDF derives a key per purpose, so a follow-up seal can
never be opened as a draft and a label never doubles as an encryption key:

- `label(purpose, value)`: HMAC-SHA256, a stable pseudonym ("which row belongs to
  report MV-2026-000123") that nobody without the key can compute or invert;
- `seal` / `open`: AES-GCM with a random nonce, bound to the row it lives in (the
  label is the associated data), so a sealed value cannot be moved to another row
  or altered without the key noticing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import stat
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy.engine import make_url

from bot.settings import ConfigError, Settings

MIN_LENGTH = 32
_NONCE = 12
_INFO = "buurtbot/{purpose}/v1"


class SealError(Exception):
    """A sealed value did not open: another key, another row, or altered bytes."""


def new_secret() -> str:
    """256 random bits, written as 64 hex characters (what `secret init` stores)."""
    return secrets.token_hex(32)


@dataclass(frozen=True)
class Keyring:
    master: bytes = field(repr=False)
    # A throwaway key: sandbox mode only, gone with the process.
    throwaway: bool = False
    # Derived keys, made once each: every update the inbox seals asks for one.
    _derived: dict[tuple[str, str], bytes] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_secret(cls, value: str, *, throwaway: bool = False) -> Keyring:
        return cls(value.strip().encode(), throwaway=throwaway)

    @classmethod
    def generate(cls, *, throwaway: bool = False) -> Keyring:
        return cls.from_secret(new_secret(), throwaway=throwaway)

    def _key(self, kind: str, purpose: str) -> bytes:
        found = self._derived.get((kind, purpose))
        if found is None:
            derive = HKDF(
                algorithm=hashes.SHA256(),
                length=32,
                salt=None,
                info=_INFO.format(purpose=f"{kind}:{purpose}").encode(),
            )
            found = self._derived[(kind, purpose)] = derive.derive(self.master)
        return found

    def label(self, purpose: str, value: str) -> str:
        """A pseudonym for `value`: the same every time, meaningless without the key."""
        return hmac.new(self._key("label", purpose), value.encode(), hashlib.sha256).hexdigest()

    def seal(self, purpose: str, plain: bytes, *, bound_to: str) -> str:
        nonce = os.urandom(_NONCE)
        sealed = AESGCM(self._key("seal", purpose)).encrypt(nonce, plain, bound_to.encode())
        return base64.urlsafe_b64encode(nonce + sealed).decode()

    def open(self, purpose: str, sealed: str, *, bound_to: str) -> bytes:
        try:
            raw = base64.urlsafe_b64decode(sealed.encode())
            return AESGCM(self._key("seal", purpose)).decrypt(
                raw[:_NONCE], raw[_NONCE:], bound_to.encode()
            )
        except (InvalidTag, ValueError) as error:
            raise SealError(purpose) from error

    def same_as(self, other: Keyring) -> bool:
        return hmac.compare_digest(self.master, other.master)


def token_hash(token: str) -> str:
    """An anonymous reporter's status token as stored: a plain SHA-256.

    The token is 128 random bits, so an unkeyed hash cannot be guessed back; being
    unkeyed, it survives a key rotation (the token itself exists only in the
    reporter's chat, so it could never be hashed again under a new key).
    """
    return hashlib.sha256(token.encode()).hexdigest()


# ---------------------------------------------------------------- where the key comes from


def data_folder(settings: Settings) -> Path | None:
    """The folder of a SQLite database: what a backup or a Docker volume holds."""
    url = make_url(settings.database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database).expanduser().resolve().parent


def check_location(path: Path, settings: Settings) -> None:
    """A key file beside the database would be copied with every backup of it."""
    folder = data_folder(settings)
    if folder is not None and path.expanduser().resolve().is_relative_to(folder):
        raise ConfigError(
            f"BUURTBOT_SECRET_FILE: {path} lies in the database's folder {folder}; "
            "a backup of the one would hold the other: keep the key elsewhere"
        )


def read_key_file(path: Path, settings: Settings) -> Keyring:
    check_location(path, settings)
    try:
        mode = path.stat().st_mode
        value = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise ConfigError(
            f"BUURTBOT_SECRET_FILE: no such file: {path} "
            f"(create it with `python -m bot secret init --file {path}`)"
        ) from None
    except OSError as error:
        raise ConfigError(f"BUURTBOT_SECRET_FILE: cannot read {path}: {error.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"BUURTBOT_SECRET_FILE: {path} can be read by others; run `chmod 600 {path}`"
        )
    if len(value) < MIN_LENGTH:
        raise ConfigError(f"BUURTBOT_SECRET_FILE: {path} holds fewer than {MIN_LENGTH} characters")
    return Keyring.from_secret(value)


def configured(settings: Settings) -> Keyring | None:
    """The key from BUURTBOT_SECRET or BUURTBOT_SECRET_FILE, if either is set."""
    if settings.secret is not None:
        return Keyring.from_secret(settings.secret.get_secret_value())
    if settings.secret_file is not None:
        return read_key_file(settings.secret_file, settings)
    return None


def require(settings: Settings) -> Keyring:
    """The key to run with; a bot with a real token refuses to start without one."""
    found = configured(settings)
    if found is not None:
        return found
    if settings.sandbox_mode:
        return Keyring.generate(throwaway=True)
    raise ConfigError(
        "BUURTBOT_SECRET_FILE: not set; anonymous reports need a key kept outside the "
        "database: run `python -m bot secret init --file /etc/buurtbot/secret` and set "
        "BUURTBOT_SECRET_FILE=/etc/buurtbot/secret (or set BUURTBOT_SECRET)"
    )


def write_key_file(path: Path, value: str) -> None:
    """Write a key readable by its owner only; an existing file is never written over."""
    path = path.expanduser()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ConfigError(
            f"BUURTBOT_SECRET_FILE: {path} exists already; a key is never overwritten"
        ) from None
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(value + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def pending(path: Path) -> Path:
    """Where a rotated key waits until the database holds only what it opens."""
    return path.expanduser().with_name(path.name + ".new")


def promote(path: Path) -> None:
    """The rotated key takes the old one's place, in one rename."""
    os.replace(pending(path), path.expanduser())
