"""What is measured: the TechEmpower endpoints, their exact answers, and the test matrix.

One place for the request headers too, so the correctness checks send byte for byte what
wrk sends (TechEmpower's Accept and Connection headers; wrk adds Host).
"""

from __future__ import annotations

from dataclasses import dataclass

PLAINTEXT_BODY = b"Hello, World!"
JSON_BODY = b'{"message":"Hello, World!"}'

# TechEmpower's wrk command sends these Accept headers for the two test types.
_ACCEPT_PLAINTEXT = (
    "text/plain,text/html;q=0.9,application/xhtml+xml;q=0.9,application/xml;q=0.8,*/*;q=0.7"
)
_ACCEPT_JSON = (
    "application/json,text/html;q=0.9,application/xhtml+xml;q=0.9,application/xml;q=0.8,*/*;q=0.7"
)


@dataclass(frozen=True)
class Endpoint:
    """One URL path and the exact response it must produce."""

    name: str
    path: str
    body: bytes
    content_type: str  # media type without parameters
    accept: str

    def headers(self) -> dict[str, str]:
        """Request headers besides Host (wrk adds Host itself)."""
        return {"Accept": self.accept, "Connection": "keep-alive"}


ENDPOINTS = {
    "plaintext": Endpoint(
        "plaintext", "/plaintext", PLAINTEXT_BODY, "text/plain", _ACCEPT_PLAINTEXT
    ),
    "json": Endpoint("json", "/json", JSON_BODY, "application/json", _ACCEPT_JSON),
}


@dataclass(frozen=True)
class Case:
    """One cell of the matrix: an endpoint, with or without pipelining."""

    endpoint: Endpoint
    depth: int  # requests per write; 1 means no pipelining

    @property
    def name(self) -> str:
        return self.endpoint.name if self.depth == 1 else f"{self.endpoint.name}-p{self.depth}"


def cases(depth: int) -> list[Case]:
    """plaintext, json, then both pipelined ``depth`` deep."""
    plain = [Case(e, 1) for e in ENDPOINTS.values()]
    return plain + [Case(e, depth) for e in ENDPOINTS.values()]


def raw_request(endpoint: Endpoint, host: str, port: int) -> bytes:
    """The request wrk writes for ``endpoint`` (its header order aside), as bytes."""
    lines = [f"GET {endpoint.path} HTTP/1.1", f"Host: {host}:{port}"]
    lines += [f"{k}: {v}" for k, v in endpoint.headers().items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
