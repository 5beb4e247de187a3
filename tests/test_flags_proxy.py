"""--proxy-headers: the client and scheme behind trusted proxies, never from anyone else.

:func:`manycore.http.proxy.resolve_client` is fed hostile values (spoofed chains,
garbage, IPv6, many hops); ``HttpServer`` requests expose what it resolves.
"""

from __future__ import annotations

import ipaddress
import json
import urllib.request

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import TEST_APPS
from manycore.http import HttpServer, Request, route
from manycore.http.proxy import parse_trusted, resolve_client
from manycore.testing import MemoryTransport, ServerProcess, feed

ECHO = f"{TEST_APPS / 'flags_apps.py'}:Echo"
LOCAL = parse_trusted("127.0.0.1")
PEER = ("127.0.0.1", 40000)


def headers(*pairs: tuple[str, str]) -> list[tuple[bytes, bytes]]:
    return [(name.encode(), value.encode()) for name, value in pairs]


def test_an_untrusted_peer_is_the_client_whatever_it_claims():
    claimed = headers(("X-Forwarded-For", "1.2.3.4"), ("X-Forwarded-Proto", "https"))
    assert resolve_client(("10.9.9.9", 5), claimed, LOCAL) == (("10.9.9.9", 5), "http")


def test_a_trusted_proxy_names_the_client_and_its_scheme():
    given = headers(("X-Forwarded-For", "203.0.113.7"), ("X-Forwarded-Proto", "https"))
    assert resolve_client(PEER, given, LOCAL) == (("203.0.113.7", 0), "https")


def test_the_client_is_the_rightmost_untrusted_hop_of_a_spoofed_chain():
    # The client itself wrote "6.6.6.6, 10.0.0.1"; our proxies appended the rest.
    trusted = parse_trusted("127.0.0.1, 10.0.0.0/8")
    chain = headers(("X-Forwarded-For", "6.6.6.6, 10.0.0.1, 198.51.100.4, 10.1.2.3"))
    assert resolve_client(PEER, chain, trusted)[0] == ("198.51.100.4", 0)


def test_every_hop_trusted_gives_the_leftmost():
    trusted = parse_trusted("127.0.0.1, 10.0.0.0/8")
    chain = headers(("X-Forwarded-For", "10.0.0.5, 10.0.0.6"))
    assert resolve_client(PEER, chain, trusted)[0] == ("10.0.0.5", 0)


def test_a_star_trusts_every_hop():
    chain = headers(("X-Forwarded-For", "192.0.2.1, 192.0.2.2, 192.0.2.3"))
    assert resolve_client(("8.8.8.8", 1), chain, parse_trusted("*"))[0] == ("192.0.2.1", 0)


def test_several_header_fields_read_as_one_list_in_order():
    trusted = parse_trusted("127.0.0.1, 10.0.0.0/8")
    split = headers(("X-Forwarded-For", "192.0.2.9"), ("x-forwarded-for", "10.0.0.1"))
    assert resolve_client(PEER, split, trusted)[0] == ("192.0.2.9", 0)


def test_forwarded_wins_over_x_forwarded_and_gives_ports_and_ipv6():
    given = headers(
        ("X-Forwarded-For", "192.0.2.1"),
        ("Forwarded", 'for="[2001:db8:cafe::17]:4711";proto=https;by=10.0.0.1'),
    )
    assert resolve_client(PEER, given, LOCAL) == (("2001:db8:cafe::17", 4711), "https")


def test_forwarded_walks_its_elements_from_the_right():
    trusted = parse_trusted("127.0.0.1, 10.0.0.0/8")
    chain = "for=6.6.6.6;proto=http, for=192.0.2.60;proto=https, for=10.0.0.2"
    given = headers(("Forwarded", chain))
    assert resolve_client(PEER, given, trusted) == (("192.0.2.60", 0), "https")


def test_quoted_separators_inside_forwarded_do_not_split_it():
    given = headers(("Forwarded", 'for="192.0.2.5:80";x="a,b;c", for=192.0.2.6'))
    assert resolve_client(PEER, given, parse_trusted("*"))[0] == ("192.0.2.5", 80)


@pytest.mark.parametrize(
    "value",
    [
        "unknown",
        "_hidden",
        "not an address",
        "999.1.1.1",
        "",
        ",,,",
        "[::1",
        "1.2.3.4:99999999999",
        "\x00\xff",
        "1.2.3.4\r\nX-Evil: 1",
    ],
)
def test_garbage_in_x_forwarded_for_never_becomes_the_client(value):
    client, scheme = resolve_client(PEER, headers(("X-Forwarded-For", value)), LOCAL)
    assert client in (PEER, ("1.2.3.4", 0))
    assert scheme == "http"


@pytest.mark.parametrize(
    "value",
    ['for="', "for", ";;;", "for=unknown", 'for="[zz::1]:80"', "proto=gopher", "for=;proto="],
)
def test_garbage_in_forwarded_leaves_the_peer(value):
    assert resolve_client(PEER, headers(("Forwarded", value)), LOCAL) == (PEER, "http")


def test_an_unknown_scheme_is_ignored():
    given = headers(("X-Forwarded-For", "192.0.2.1"), ("X-Forwarded-Proto", "javascript"))
    assert resolve_client(PEER, given, LOCAL) == (("192.0.2.1", 0), "http")


def test_x_forwarded_proto_alone_gives_the_scheme():
    assert resolve_client(PEER, headers(("X-Forwarded-Proto", "HTTPS")), LOCAL) == (PEER, "https")


def test_ipv4_mapped_ipv6_peers_are_trusted_as_their_ipv4_address():
    given = headers(("X-Forwarded-For", "::ffff:192.0.2.1"))
    assert resolve_client(("::ffff:127.0.0.1", 1), given, LOCAL)[0] == ("192.0.2.1", 0)


def test_ipv6_networks_are_trusted():
    trusted = parse_trusted("::1, 2001:db8::/32")
    given = headers(("X-Forwarded-For", "2001:db9::1, 2001:db8::5"))
    assert resolve_client(("::1", 1), given, trusted)[0] == ("2001:db9::1", 0)


def test_ten_thousand_hops_end_at_the_rightmost_untrusted_one():
    trusted = parse_trusted("127.0.0.1, 10.0.0.0/8")
    chain = ", ".join(["6.6.6.6"] * 10_000 + ["192.0.2.1"] + ["10.0.0.1"] * 50)
    assert resolve_client(PEER, headers(("X-Forwarded-For", chain)), trusted)[0] == (
        "192.0.2.1",
        0,
    )


def test_a_unix_socket_peer_is_trusted_only_when_unix_is_listed():
    given = headers(("X-Forwarded-For", "192.0.2.1"))
    assert resolve_client(None, given, LOCAL) == (None, "http")
    assert resolve_client(None, given, parse_trusted("unix:"))[0] == ("192.0.2.1", 0)


@pytest.mark.parametrize("bad", ["localhost", "10.0.0.0/33", "1.2.3", "*.example.com"])
def test_a_trusted_list_entry_that_is_no_address_is_refused_by_name(bad):
    with pytest.raises(ValueError, match=bad.replace("*", r"\*").replace(".", r"\.")):
        parse_trusted(f"127.0.0.1, {bad}")


# ------------------------------------------------------------------ HttpServer requests


class Behind(HttpServer):
    proxy_headers = True
    forwarded_allow_ips = "127.0.0.1"

    @route("/who")
    def who(self, request: Request) -> dict[str, object]:
        return {"client": list(request.client or ()), "scheme": request.scheme}


class NotBehind(Behind):
    proxy_headers = False


REQUEST = (
    b"GET /who HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 203.0.113.9\r\n"
    b"X-Forwarded-Proto: https\r\n\r\n"
)


def _answer(cls: type[HttpServer], pieces: list[bytes], peer=PEER) -> dict[str, object]:
    app = cls()
    transport = MemoryTransport(peername=peer)
    for piece in pieces:
        feed(app, piece, transport)
    body = bytes(transport.output).partition(b"\r\n\r\n")[2]
    return json.loads(body)


def _splits(data: bytes) -> list[list[bytes]]:
    return [[data], [bytes([b]) for b in data]] + [
        [data[:i], data[i:]] for i in range(1, len(data))
    ]


def test_a_request_exposes_the_forwarded_client_however_its_bytes_arrive():
    for pieces in _splits(REQUEST):
        assert _answer(Behind, pieces) == {"client": ["203.0.113.9", 0], "scheme": "https"}


def test_without_proxy_headers_the_request_shows_the_peer():
    assert _answer(NotBehind, [REQUEST]) == {"client": list(PEER), "scheme": "http"}


def test_a_request_from_an_untrusted_peer_shows_the_peer():
    peer = ("192.0.2.200", 1234)
    assert _answer(Behind, [REQUEST], peer) == {"client": list(peer), "scheme": "http"}


def test_a_bad_trusted_list_on_the_class_is_refused_when_the_class_is_made():
    with pytest.raises(TypeError, match=r"forwarded_allow_ips.*'nonsense'"):
        type("Bad", (HttpServer,), {"forwarded_allow_ips": "nonsense"})


def test_the_command_line_flag_reaches_requests_over_a_socket(engine, workers):
    args = ["--proxy-headers", "--forwarded-allow-ips", "127.0.0.1"]
    with ServerProcess(ECHO, engine=engine, workers=workers, args=args) as server:
        request = urllib.request.Request(
            server.url + "/who",
            headers={"X-Forwarded-For": "6.6.6.6, 198.51.100.23", "X-Forwarded-Proto": "https"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert json.load(response) == {
                "client": ["198.51.100.23", 0],
                "scheme": "https",
                "root_path": "",
            }
    with ServerProcess(ECHO, engine=engine, workers=workers) as server:
        request = urllib.request.Request(
            server.url + "/who", headers={"X-Forwarded-For": "198.51.100.23"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert json.load(response)["client"][0] == "127.0.0.1"


_FIELD_VALUES = st.text(
    alphabet=st.sampled_from(list('0123456789abcdef.:[]%,;="\\ _-forwardtpsunkwhx\t')),
    max_size=120,
)


@settings(max_examples=300, deadline=None)
@given(
    forwarded=st.one_of(st.none(), _FIELD_VALUES),
    forwarded_for=st.one_of(st.none(), _FIELD_VALUES),
    proto=st.one_of(st.none(), _FIELD_VALUES),
)
def test_any_header_values_give_a_real_address_or_the_peer_and_never_raise(
    forwarded, forwarded_for, proto
):
    fields = [
        (name, value)
        for name, value in (
            ("Forwarded", forwarded),
            ("X-Forwarded-For", forwarded_for),
            ("X-Forwarded-Proto", proto),
        )
        if value is not None
    ]
    given_headers = headers(*fields)
    client, scheme = resolve_client(PEER, given_headers, parse_trusted("*"))
    assert scheme in ("http", "https", "ws", "wss")
    assert client is not None
    host, port = client
    ipaddress.ip_address(host)
    assert 0 <= port <= 65535
    # From a peer nobody trusts, nothing a client writes changes anything.
    assert resolve_client(("192.0.2.1", 9), given_headers, LOCAL) == (("192.0.2.1", 9), "http")
