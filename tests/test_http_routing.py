"""Routing: which handler answers a method and path, with which parameters, or which 404/405.

The table is built once per application class, so its mistakes (two handlers for
one route, a malformed pattern) must be errors when the class is made, and its
answers (404, 405 with ``Allow``) must be the same whatever the request looks like.
"""

from __future__ import annotations

import pytest

from manycore.http import HTTPError, HttpServer, Request, route
from manycore.http._routing import Route, Router, build_router
from manycore.testing import MemoryTransport, feed
from test_http_apps import request, split_responses


class Shop(HttpServer):
    """Literal, parameterised and method-specific routes side by side."""

    @route("/items")
    def items(self, request: Request) -> str:
        return "all items"

    @route("/items/new")
    def new_item(self, request: Request) -> str:
        return "new item form"

    @route("/items/{id:int}", methods=["GET", "PUT"])
    def item(self, request: Request, id: int) -> dict:
        return {"id": id, "type": type(id).__name__}

    @route("/items/{name}")
    def named_item(self, request: Request, name: str) -> dict:
        return {"name": name}

    @route("/price/{amount:float}")
    def price(self, request: Request, amount: float) -> dict:
        return {"amount": amount}

    @route("/files/{rest:path}")
    def files(self, request: Request, rest: str) -> dict:
        return {"rest": rest}

    @route("/users/{user}/posts/{post:int}")
    def post(self, request: Request, user: str, post: int) -> dict:
        return {"user": user, "post": post}

    @route("/café")
    def cafe(self, request: Request) -> str:
        return "coffee"

    @route("/upload", methods=["post"])
    def upload(self, request: Request) -> str:
        return "uploaded"

    @route("/ping")
    @route("/healthz")
    def ping(self, request: Request) -> str:
        return "pong"


def lookup(method: bytes, path: bytes, cls: type = Shop) -> tuple[str, dict | None]:
    entry, params = cls._router.lookup(method, path)
    return entry.name, params


def http_error(method: bytes, path: bytes, cls: type = Shop) -> HTTPError:
    with pytest.raises(HTTPError) as info:
        cls._router.lookup(method, path)
    return info.value


# ------------------------------------------------------------------ matching
def test_a_literal_route_is_found_by_its_path():
    assert lookup(b"GET", b"/items") == ("items", None)


def test_a_literal_route_wins_over_a_parameter_that_would_match():
    assert lookup(b"GET", b"/items/new") == ("new_item", None)


def test_a_route_with_a_parameter_captures_the_segment():
    assert lookup(b"GET", b"/items/widget") == ("named_item", {"name": "widget"})


def test_an_int_parameter_is_converted_and_tried_before_a_later_str_route():
    assert lookup(b"GET", b"/items/42") == ("item", {"id": 42})
    assert lookup(b"GET", b"/items/-7") == ("item", {"id": -7})
    assert lookup(b"GET", b"/items/4x") == ("named_item", {"name": "4x"})


def test_a_float_parameter_accepts_integers_and_decimals():
    assert lookup(b"GET", b"/price/3") == ("price", {"amount": 3.0})
    assert lookup(b"GET", b"/price/-2.50") == ("price", {"amount": -2.5})
    assert http_error(b"GET", b"/price/1e3").status == 404
    assert http_error(b"GET", b"/price/nan").status == 404


def test_a_path_parameter_takes_the_rest_with_its_slashes():
    assert lookup(b"GET", b"/files/a/b/c.txt") == ("files", {"rest": "a/b/c.txt"})
    assert http_error(b"GET", b"/files/").status == 404


def test_a_str_parameter_is_one_segment_only():
    assert http_error(b"GET", b"/items/a/b").status == 404
    assert http_error(b"GET", b"/items/").status == 404


def test_several_parameters_are_all_captured():
    assert lookup(b"GET", b"/users/ada/posts/3") == ("post", {"user": "ada", "post": 3})


def test_parameters_are_percent_decoded_as_utf8():
    assert lookup(b"GET", b"/items/caf%C3%A9%20au%20lait") == (
        "named_item",
        {"name": "café au lait"},
    )
    assert lookup(b"GET", b"/items/%FF") == ("named_item", {"name": "\ufffd"})


def test_a_literal_route_with_non_ascii_is_found_raw_or_percent_encoded():
    assert lookup(b"GET", "/café".encode()) == ("cafe", None)
    assert lookup(b"GET", b"/caf%C3%A9") == ("cafe", None)


def test_a_handler_may_carry_several_routes():
    assert lookup(b"GET", b"/ping") == ("ping", None)
    assert lookup(b"GET", b"/healthz") == ("ping", None)


def test_a_huge_int_parameter_is_answered_rather_than_a_crash():
    """Python may refuse int() of 5000 digits: then the next matching route answers."""
    assert lookup(b"GET", b"/items/" + b"9" * 5000)[0] in ("item", "named_item")


# ------------------------------------------------------------------ methods
def test_a_get_route_also_answers_head():
    assert lookup(b"HEAD", b"/items") == ("items", None)
    assert lookup(b"HEAD", b"/items/5") == ("item", {"id": 5})


def test_method_names_are_upper_cased():
    assert lookup(b"POST", b"/upload") == ("upload", None)


def test_a_wrong_method_is_405_with_the_allowed_methods():
    error = http_error(b"DELETE", b"/items")
    assert error.status == 405
    assert dict(error.headers) == {"Allow": "GET, HEAD"}
    assert "DELETE is not allowed here" in error.detail


def test_a_wrong_method_on_a_parameter_route_lists_every_matching_route():
    error = http_error(b"POST", b"/items/5")
    assert error.status == 405
    assert dict(error.headers) == {"Allow": "GET, HEAD, PUT"}


def test_a_post_only_route_does_not_answer_get():
    error = http_error(b"GET", b"/upload")
    assert (error.status, dict(error.headers)) == (405, {"Allow": "POST"})


def test_an_unknown_path_is_404_naming_the_path():
    error = http_error(b"GET", b"/nowhere")
    assert error.status == 404
    assert error.detail == "no route for /nowhere"


def test_an_explicit_head_route_replaces_the_implicit_one_in_either_order():
    class HeadAfter(HttpServer):
        @route("/r")
        def get(self, request: Request) -> str:
            return "get"

        @route("/r", methods=["HEAD"])
        def head(self, request: Request) -> str:
            return "head"

    class HeadBefore(HttpServer):
        @route("/r", methods=["HEAD"])
        def head(self, request: Request) -> str:
            return "head"

        @route("/r")
        def get(self, request: Request) -> str:
            return "get"

    for cls in (HeadAfter, HeadBefore):
        assert lookup(b"HEAD", b"/r", cls) == ("head", None)
        assert lookup(b"GET", b"/r", cls) == ("get", None)


# ------------------------------------------------------------------ static mounts
def test_a_mount_answers_get_and_head_under_its_prefix_longest_first():
    router = Router()
    outer, inner = object(), object()
    router.add_mount("/static", outer)
    router.add_mount("/static/img/", inner)
    assert router.lookup(b"GET", b"/static/a.css") == (outer, {"path": "a.css"})
    assert router.lookup(b"HEAD", b"/static/img/x.png") == (inner, {"path": "x.png"})
    assert router.lookup(b"GET", b"/static") == (outer, {"path": ""})
    assert router.lookup(b"GET", b"/static/a%20b.txt") == (outer, {"path": "a b.txt"})
    with pytest.raises(HTTPError) as info:
        router.lookup(b"GET", b"/staticky")
    assert info.value.status == 404


def test_a_mount_refuses_other_methods_with_405():
    router = Router()
    router.add_mount("/static", object())
    with pytest.raises(HTTPError) as info:
        router.lookup(b"POST", b"/static/a.css")
    assert (info.value.status, dict(info.value.headers)) == (405, {"Allow": "GET, HEAD"})


def test_routes_are_tried_before_mounts():
    router = Router()

    def handler(self, request):
        return "x"

    router.add("/static/special", ("GET",), Route(handler, "/static/special", "handler"))
    router.add_mount("/static", object())
    assert router.lookup(b"GET", b"/static/special")[0].name == "handler"


# ------------------------------------------------------------------ mistakes, at class creation
@pytest.mark.parametrize(
    ("path", "methods", "error", "message"),
    [
        ("items", None, ValueError, "must be a str starting with '/'"),
        (b"/items", None, ValueError, "must be a str starting with '/'"),
        ("/items", "GET", TypeError, r"methods must be a list such as \['GET'\]"),
        ("/items", ["GE T"], ValueError, "'GE T' is not a valid HTTP method name"),
        ("/items", [""], ValueError, "is not a valid HTTP method name"),
        ("/items/{id:uuid}", None, ValueError, "unknown parameter type 'uuid'.*int, float"),
        ("/a/{x}/b/{x}", None, ValueError, "parameter 'x' appears twice"),
        ("/a/{x", None, ValueError, "unbalanced or malformed"),
        ("/a/{1x}", None, ValueError, "unbalanced or malformed"),
    ],
)
def test_a_bad_route_is_refused_where_the_decorator_is_written(path, methods, error, message):
    with pytest.raises(error, match=message):
        route(path, methods)


def test_route_must_decorate_a_function():
    with pytest.raises(TypeError, match="must decorate a function"):
        route("/x")(42)


def test_two_handlers_for_one_method_and_path_are_refused():
    with pytest.raises(TypeError, match=r"GET /x is routed to both a\(\) and b\(\)"):

        class Twice(HttpServer):
            @route("/x")
            def a(self, request: Request) -> str:
                return "a"

            @route("/x", methods=["GET", "POST"])
            def b(self, request: Request) -> str:
                return "b"


def test_two_handlers_for_one_pattern_are_refused():
    with pytest.raises(TypeError, match=r"routed to both"):

        class Twice(HttpServer):
            @route("/x/{id:int}")
            def a(self, request: Request, id: int) -> str:
                return "a"

            @route("/x/{id:int}")
            def b(self, request: Request, id: int) -> str:
                return "b"


def test_one_pattern_may_route_different_methods_to_different_handlers():
    class Split(HttpServer):
        @route("/x/{id:int}")
        def read(self, request: Request, id: int) -> str:
            return "read"

        @route("/x/{id:int}", methods=["DELETE"])
        def remove(self, request: Request, id: int) -> str:
            return "remove"

    assert lookup(b"GET", b"/x/1", Split) == ("read", {"id": 1})
    assert lookup(b"DELETE", b"/x/1", Split) == ("remove", {"id": 1})
    error = http_error(b"PUT", b"/x/1", Split)
    assert dict(error.headers) == {"Allow": "DELETE, GET, HEAD"}


@pytest.mark.parametrize("kind", [staticmethod, classmethod])
@pytest.mark.parametrize("route_outside", [True, False], ids=["route-outside", "route-inside"])
def test_a_static_or_class_method_handler_is_refused_whatever_the_decorator_order(
    kind, route_outside
):
    def handler(*args):
        return "x"

    with pytest.raises(TypeError, match=r"a route handler is a plain method|decorate a function"):
        member = route("/x")(kind(handler)) if route_outside else kind(route("/x")(handler))
        type("Bad", (HttpServer,), {"handler": member})


# ------------------------------------------------------------------ inheritance
def test_a_subclass_inherits_routes_and_may_override_their_code():
    class Base(HttpServer):
        @route("/hello")
        def hello(self, request: Request) -> str:
            return "base"

        @route("/other")
        def other(self, request: Request) -> str:
            return "other"

    class Child(Base):
        def hello(self, request: Request) -> str:
            return "child"

    entry, _ = Child._router.lookup(b"GET", b"/hello")
    assert entry.fn is Child.hello
    assert lookup(b"GET", b"/other", Child) == ("other", None)
    assert Base._router.lookup(b"GET", b"/hello")[0].fn is Base.hello


def test_decorating_an_override_replaces_the_base_routes_for_that_name():
    class Base(HttpServer):
        @route("/old")
        def page(self, request: Request) -> str:
            return "old"

    class Child(Base):
        @route("/new")
        def page(self, request: Request) -> str:
            return "new"

    assert lookup(b"GET", b"/new", Child) == ("page", None)
    assert http_error(b"GET", b"/old", Child).status == 404


def test_async_handlers_are_marked_async():
    class Mixed(HttpServer):
        @route("/sync")
        def sync(self, request: Request) -> str:
            return "s"

        @route("/async")
        async def later(self, request: Request) -> str:
            return "a"

    assert Mixed._router.lookup(b"GET", b"/sync")[0].is_async is False
    assert Mixed._router.lookup(b"GET", b"/async")[0].is_async is True


def test_describe_lists_every_route_and_mount():
    router = build_router(Shop)
    router.add_mount("/assets", "ASSETS")
    lines = router.describe()
    assert "GET /items -> items" in lines
    assert "HEAD /items -> items" in lines
    assert "PUT /items/{id:int} -> item" in lines
    assert "GET /café -> cafe" in lines
    assert "GET /assets/... -> 'ASSETS'" in lines


# ------------------------------------------------------------------ on the wire
WIRE = [
    (request("/items/42"), 200, b'{"id":42,"type":"int"}'),
    (request("/items/caf%C3%A9"), 200, '{"name":"café"}'.encode()),
    (request("/files/a/b"), 200, b'{"rest":"a/b"}'),
    (request("/nowhere"), 404, b"404 Not Found: no route for /nowhere\n"),
    (request("/items?page=2"), 200, b"all items"),
]


def exchange(data: bytes, bytewise: bool) -> list[tuple[int, dict[str, str], bytes]]:
    app = Shop()
    transport = MemoryTransport()
    pieces = [data[i : i + 1] for i in range(len(data))] if bytewise else [data]
    for piece in pieces:
        feed(app, piece, transport)
    return split_responses(bytes(transport.output))


@pytest.mark.parametrize("bytewise", [False, True], ids=["whole", "bytewise"])
def test_routed_answers_on_the_wire(bytewise):
    data = b"".join(raw for raw, _, _ in WIRE)
    responses = exchange(data, bytewise)
    assert [(status, body) for status, _, body in responses] == [
        (status, body) for _, status, body in WIRE
    ]


@pytest.mark.parametrize("bytewise", [False, True], ids=["whole", "bytewise"])
def test_a_405_on_the_wire_carries_allow_and_keeps_the_connection(bytewise):
    data = request("/items/5", method="DELETE") + request("/items/5", method="HEAD")
    responses = exchange(data, bytewise)
    assert [status for status, _, _ in responses] == [405, 200]
    assert responses[0][1]["allow"] == "GET, HEAD, PUT"
    assert responses[1][2] == b""
    assert int(responses[1][1]["content-length"]) == len(b'{"id":5,"type":"int"}')


def test_the_answers_do_not_depend_on_where_the_requests_are_cut():
    data = b"".join(raw for raw, _, _ in WIRE) + request("/items/5", method="DELETE")
    expected = [(status, body) for status, _, body in exchange(data, bytewise=False)]
    for cut in range(1, len(data)):
        app = Shop()
        transport = MemoryTransport()
        feed(app, data[:cut], transport)
        feed(app, data[cut:], transport)
        got = [(status, body) for status, _, body in split_responses(bytes(transport.output))]
        assert got == expected, cut
