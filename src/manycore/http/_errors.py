"""Errors, split by whose fault they are.

- :class:`HTTPError` is raised *by an application* on purpose to answer with an
  error status ("404 no such item").  It is an answer, not a failure.
- :class:`RemoteProtocolError` means *the peer* sent something that is not
  HTTP/1.1 we accept.  It carries the status to answer with; after it the
  connection is answered once and closed (its state is unknown).
- :class:`StaticDirectoryError` means *the operator* mounted a directory that
  is not there: refused at start-up rather than answering 404 for everything.
- :class:`LocalProtocolError` means *the application* misused the API (a header
  with a newline in it, a handler returning something that cannot be sent).  It
  becomes a logged 500: the peer is not told why.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ..context import ManycoreError

__all__ = ["HTTPError", "LocalProtocolError", "RemoteProtocolError", "StaticDirectoryError"]


class HTTPError(ManycoreError):
    """Raise from a handler to answer with ``status`` and a short plain-text ``detail``.

    ``headers`` (a mapping or pairs) are added to the response, e.g. ``Allow`` for
    405 or ``WWW-Authenticate`` for 401.
    """

    def __init__(
        self,
        status: int,
        detail: str | None = None,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
    ) -> None:
        if not isinstance(status, int) or not 400 <= status <= 599:
            raise ValueError(
                f"HTTPError status must be an int from 400 to 599, got {status!r}; "
                "return a Response for other statuses"
            )
        self.status = status
        self.detail = detail
        self.headers = headers
        super().__init__(status, detail)

    def __str__(self) -> str:
        return f"{self.status} {self.detail}" if self.detail else str(self.status)


class RemoteProtocolError(ManycoreError):
    """The peer broke HTTP/1.1; ``status`` is the answer to send before closing."""

    def __init__(self, message: str, status: int = 400) -> None:
        self.status = status
        super().__init__(message)


class LocalProtocolError(ManycoreError, ValueError):
    """The application asked for something HTTP cannot express; a bug to fix in the app."""


class StaticDirectoryError(ManycoreError):
    """A ``static()`` mount names a directory that does not exist (or is not one)."""
