"""Credentials and the HELO/AUTH handshake (docs/PROTOCOL.md, 1.6).

A credential is a role (``client``, ``runner`` or ``server``) and a secret.
It comes from ``$CLOUD_TOKEN`` (``<role>:<secret>``) or a token file holding
one line ``<role> <secret>``. On each new connection the client sends
``HELO``, gets ``ACK:<nonce>`` (32 hex digits), and sends
``AUTH:<role>:<proof>`` where ``proof`` is the lower-case hex
HMAC-SHA256 with the secret (its UTF-8 bytes) as key over the text
``cloud-auth:<role>:<nonce>``; the server answers ``ACK``. No secret
crosses the wire. Pure: no sockets.
"""

import hmac
import hashlib
import os
import re
from typing import Mapping, NamedTuple, Optional

_ROLE = re.compile(r"[a-z][a-z-]{0,31}\Z")
_NONCE = re.compile(r"[0-9a-fA-F]{32}\Z")
#: Roles the servers know.
ROLES = ("client", "runner", "server")


class Credential(NamedTuple):
    """A role and its secret."""

    role: str
    secret: str

    def __repr__(self) -> str:
        return "Credential(role=%r, secret=<%d characters>)" % (self.role, len(self.secret))

    def proof(self, nonce: str) -> str:
        """The lower-case hex HMAC-SHA256 (key: the secret) of ``cloud-auth:<role>:<nonce>``."""
        message = "cloud-auth:%s:%s" % (self.role, nonce)
        return hmac.new(self.secret.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).hexdigest()


def _checked(role: str, secret: str, where: str) -> Credential:
    if not _ROLE.match(role):
        raise ValueError("Cannot use the credential from %s: role %r is not a lower-case word" % (where, role))
    if not secret or any(c.isspace() or c == "\0" for c in secret):
        raise ValueError(
            "Cannot use the credential from %s: the secret is empty or has spaces or NUL" % where
        )
    return Credential(role, secret)


def parse_token(text: str, where: str = "$CLOUD_TOKEN") -> Credential:
    """Parses ``<role>:<secret>``; raises ValueError naming ``where`` when malformed."""
    role, colon, secret = text.strip().partition(":")
    if not colon:
        raise ValueError("Cannot use the credential from %s: expected <role>:<secret>" % where)
    return _checked(role, secret, where)


def read_token_file(path: str) -> Credential:
    """Reads a token file: one line ``<role> <secret>`` (blank lines and ``#`` comments aside).

    Raises ValueError when the file is malformed, OSError when it cannot be read.
    """
    with open(path, "r", encoding="utf-8") as file:
        lines = [line.strip() for line in file.read().splitlines()]
    lines = [line for line in lines if line and not line.startswith("#")]
    if len(lines) != 1 or len(lines[0].split()) != 2:
        raise ValueError("Cannot use the token file %s: expected one line '<role> <secret>'" % path)
    role, secret = lines[0].split()
    return _checked(role, secret, path)


def credential_from_env(env: Optional[Mapping[str, str]] = None) -> Optional[Credential]:
    """The credential ``$CLOUD_TOKEN`` or ``$CLOUD_TOKEN_FILE`` gives, or None.

    ``$CLOUD_TOKEN`` wins when both are set.
    """
    env = os.environ if env is None else env
    token = env.get("CLOUD_TOKEN")
    if token:
        return parse_token(token)
    path = env.get("CLOUD_TOKEN_FILE")
    if path:
        return read_token_file(path)
    return None


def parse_nonce(fields: list) -> str:
    """The nonce of a ``HELO`` reply's fields; raises ValueError unless it is 32 hex digits."""
    if len(fields) != 1 or not _NONCE.match(fields[0]):
        raise ValueError("Cannot authenticate: HELO reply is not ACK:<32 hex digits> (got %r)" % (fields[:2],))
    return fields[0]
