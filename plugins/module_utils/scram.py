# Copyright: (c) 2026, pgops.replication contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""SCRAM-SHA-256 secrets as PostgreSQL stores them in pg_authid.rolpassword (RFC 5802, RFC 7677).

Computing the secret on the controller side means the plain password never travels to the
server, so it cannot end up in the server log, and an existing secret can be checked without
changing it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import stringprep
import unicodedata

DEFAULT_ITERATIONS = 4096
SALT_BYTES = 16


def saslprep(password: str) -> bytes:
    """Normalise the password the way PostgreSQL does before hashing.

    PostgreSQL applies SASLprep (RFC 4013) and, when the result would be prohibited,
    hashes the password's bytes unchanged instead of refusing it.
    """
    raw = password.encode("utf-8")
    if password.isascii():
        return raw
    mapped = "".join(
        " " if stringprep.in_table_c12(character) else character for character in password if not stringprep.in_table_b1(character)
    )
    normalized = unicodedata.normalize("NFKC", mapped)
    if not normalized:
        return raw
    prohibited = (
        stringprep.in_table_c12,
        stringprep.in_table_c21,
        stringprep.in_table_c22,
        stringprep.in_table_c3,
        stringprep.in_table_c4,
        stringprep.in_table_c5,
        stringprep.in_table_c6,
        stringprep.in_table_c7,
        stringprep.in_table_c8,
        stringprep.in_table_c9,
        stringprep.in_table_a1,
    )
    if any(test(character) for character in normalized for test in prohibited):
        return raw
    right_to_left = [stringprep.in_table_d1(character) for character in normalized]
    if any(right_to_left):
        if any(stringprep.in_table_d2(character) for character in normalized):
            return raw
        if not (right_to_left[0] and right_to_left[-1]):
            return raw
    return normalized.encode("utf-8")


def _keys(password: str, salt: bytes, iterations: int) -> tuple:
    salted = hashlib.pbkdf2_hmac("sha256", saslprep(password), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    return stored_key, server_key


def scram_secret(password: str, salt: bytes | None = None, iterations: int = DEFAULT_ITERATIONS) -> str:
    """The 'SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>' string for `password`."""
    if salt is None:
        salt = os.urandom(SALT_BYTES)
    stored_key, server_key = _keys(password, salt, iterations)

    def encode(data: bytes) -> str:
        return base64.b64encode(data).decode("ascii")

    return "SCRAM-SHA-256$%d:%s$%s:%s" % (iterations, encode(salt), encode(stored_key), encode(server_key))


def scram_secret_matches(password: str, secret: str | None) -> bool:
    """True when `secret` is a SCRAM-SHA-256 secret of `password`; False for md5, plain or malformed ones."""
    if not secret or not secret.startswith("SCRAM-SHA-256$"):
        return False
    try:
        parameters, keys = secret[len("SCRAM-SHA-256$") :].split("$", 1)
        iterations_text, salt_text = parameters.split(":", 1)
        stored_text, server_text = keys.split(":", 1)
        iterations = int(iterations_text)
        salt = base64.b64decode(salt_text, validate=True)
        stored_key = base64.b64decode(stored_text, validate=True)
        server_key = base64.b64decode(server_text, validate=True)
    except ValueError:
        return False
    if iterations <= 0:
        return False
    expected_stored, expected_server = _keys(password, salt, iterations)
    return hmac.compare_digest(expected_stored, stored_key) and hmac.compare_digest(expected_server, server_key)
