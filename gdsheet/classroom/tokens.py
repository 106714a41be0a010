"""Per-student tokens: who a template was written for, provable only with the course secret.

``template --roster`` writes into every student's template, on the hidden
``gdsheet`` sheet (a row ``token``, beside ``student`` and ``variant``), the
token ``gdt1-`` + the first 24 hex digits of HMAC-SHA256(course secret,
exercise · student id · variant id).  The secret lives only in the keys file
the teacher keeps, so a student who edits the hidden sheet can change the
student id but cannot write a token that verifies for anyone else: 96 bits
to guess.  A hidden sheet's cells survive a save in Excel and LibreOffice
(custom document properties do not survive every program), which a test
checks with a real LibreOffice round trip.

``grade`` reads the token back and compares it with the student the file was
handed in by (:mod:`gdsheet.classroom.integrity`): another student's token, the
same token on two files, no token or one that verifies for nobody are review
flags in the gradebook — never a grade.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .keys import Keys

PREFIX = "gdt1-"
DIGITS = 24  # hex digits kept: 96 bits


def new_secret() -> str:
    """A fresh course secret (256 bits from the OS's CSPRNG), kept in the keys file."""
    return secrets.token_hex(32)


def make_token(secret: str, exercise: str, student: str, variant: str) -> str:
    """The token of one student's template (see the module doc)."""
    message = "\x00".join(("gdsheet token", exercise, student, variant)).encode()
    return PREFIX + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()[:DIGITS]


def token_owners(keys: "Keys") -> dict[str, str]:
    """token -> student id for every student of ``keys`` ({} without a course secret)."""
    if not keys.secret:
        return {}
    return {make_token(keys.secret, keys.exercise, s.student, s.variant): s.student for s in keys.students}


def owner(keys: "Keys", token: str | None) -> str | None:
    """The student whose template carries ``token``, or None (no token, a forged or damaged one)."""
    if not token or not keys.secret:
        return None
    table = getattr(keys, "_tokens", None)
    if table is None:
        table = token_owners(keys)
        keys._tokens = table  # type: ignore[attr-defined]
    found = table.get(token.strip().lower())
    if found is None:
        return None
    # constant-time confirmation of the hit (the dict lookup above only finds the candidate)
    sk = keys.student(found)
    assert sk is not None
    expected = make_token(keys.secret, keys.exercise, sk.student, sk.variant)
    return found if hmac.compare_digest(expected, token.strip().lower()) else None
