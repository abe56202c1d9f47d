"""Domain errors: each carries a message for the user, and the CLI prints it as one line (exit 1).

Kept free of heavy imports so that any module (and the command line) can raise and catch them.
"""

from __future__ import annotations


def first_line(exc: BaseException) -> str:
    """The first line of an error's message (of the driver's error under a SQLAlchemy one), else its type.

    >>> first_line(ValueError("no such table: x\\n[SQL: SELECT ...]")), first_line(KeyError())
    ('no such table: x', 'KeyError')
    """
    cause = getattr(exc, "orig", None) or exc
    text = str(cause).strip()
    return text.splitlines()[0] if text else type(cause).__name__


DRIVER_MODULES = ("sqlalchemy", "psycopg", "sqlite3", "_sqlite3")
"""Packages whose errors are the store's (a full disk, a lost server, a malformed query), not trialkb's bugs."""


def store_or_file_error(exc: BaseException) -> str | None:
    """One line for an error of the store or of a file: 'database error: database or disk is full',
    'No space left on device: x'; None for anything else (a bug, a domain error).

    >>> store_or_file_error(FileNotFoundError(2, "No such file or directory", "x.json")), store_or_file_error(KeyError())
    ('No such file or directory: x.json', None)
    """
    if isinstance(exc, OSError):
        return f"{exc.strerror or exc}{f': {exc.filename}' if exc.filename else ''}"
    if type(exc).__module__.split(".")[0] in DRIVER_MODULES:
        return f"database error: {first_line(exc)}"
    return None


class TrialkbError(Exception):
    """An error whose message is meant for the user: printed as one line, exit 1, no traceback."""


class StoreError(TrialkbError):
    """The store cannot be used."""


class NoStore(StoreError):
    """No store at the given location (and a read command never creates one)."""


class CannotOpen(StoreError):
    """The store exists (or may) but cannot be opened: unreachable server, unknown driver, bad file."""


class SchemaMismatch(StoreError):
    """The store's schema revision is not the one this trialkb reads."""


class BadArgument(TrialkbError, ValueError):
    """A command argument that cannot be right (an id that is no registry's, a count below 1)."""


class NotFound(TrialkbError, LookupError):
    """No trial with that id in the store."""


class ReadOnlyViolation(TrialkbError, PermissionError):
    """A statement given to the read-only SQL command was refused."""


class NothingImported(TrialkbError):
    """An import that stored nothing: missing path, no JSON, every record rejected."""


class JobFailed(TrialkbError):
    """A job stopped by the store or a file (a full disk, a lost server); what was complete is committed."""


class Interrupted(TrialkbError):
    """A job stopped by SIGINT / SIGTERM; what was complete is committed."""

    exit_code = 130
