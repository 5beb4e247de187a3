"""examples/vectors.py: a FastAPI app searching one shared embedding matrix from every worker.

Served by ``manycore serve`` with a small matrix; its answers are checked against a
brute-force search over the same generated matrix.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import numpy as np
import pytest

from conftest import EXAMPLES
from manycore.testing import ServerProcess

ROWS, DIM, SEED = 3000, 24, 7
ENV = {"VECTORS_ROWS": str(ROWS), "VECTORS_DIM": str(DIM), "VECTORS_SEED": str(SEED)}


def expected_matrix() -> np.ndarray:
    """The example's matrix, made the way it documents: unit rows from a seeded generator."""
    matrix = np.random.default_rng(SEED).standard_normal((ROWS, DIM), dtype=np.float32)
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


def call(server: ServerProcess, path: str, body: object = None) -> tuple[int, object]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        server.url + path, data=data, headers={"content-type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        with exc:  # closed here, not by the collector at some later test
            return exc.code, json.loads(exc.read())


@pytest.fixture(scope="module")
def matrix() -> np.ndarray:
    return expected_matrix()


def test_vectors_answers_nearest_neighbour_queries_from_every_worker(engine, workers, matrix):
    target = f"{EXAMPLES / 'vectors.py'}:app"
    with ServerProcess(target, engine=engine, workers=workers, env=ENV) as server:
        status, about = call(server, "/")
        assert status == 200
        assert (about["rows"], about["dim"], about["seed"]) == (ROWS, DIM, SEED)

        for row in (0, 42, ROWS - 1):
            status, found = call(server, f"/similar/{row}?k=5")
            assert status == 200
            scores = matrix @ matrix[row]
            scores[row] = -np.inf
            best = np.argsort(-scores, kind="stable")[:5]
            assert [n["id"] for n in found] == best.tolist()
            assert [n["score"] for n in found] == pytest.approx(scores[best].tolist(), abs=1e-5)

        # A row's own vector, scaled: that row first, with a cosine of 1.
        status, found = call(server, "/nearest", {"vector": (3 * matrix[17]).tolist(), "k": 3})
        assert status == 200
        assert found[0]["id"] == 17 and found[0]["score"] == pytest.approx(1.0, abs=1e-5)
        assert len(found) == 3

        # Fresh connections, whichever worker takes them, answer from the same matrix.
        first = call(server, "/similar/42?k=5")[1]
        for _ in range(20):
            assert call(server, "/similar/42?k=5")[1] == first


@pytest.fixture(scope="module")
def server():
    with ServerProcess(f"{EXAMPLES / 'vectors.py'}:app", env=ENV) as process:
        yield process


@pytest.mark.parametrize(
    ("path", "body", "status", "detail"),
    [
        ("/similar/3000", None, 404, "no row 3000: rows are 0..2999"),
        ("/similar/-1", None, 404, "no row -1"),
        ("/nearest", {"vector": [1.0, 2.0]}, 422, "the vector has 2 numbers; send 24"),
        ("/nearest", {"vector": [0.0] * DIM}, 422, "the zero vector"),
        ("/nearest", {"vector": [1.0] * DIM, "k": 0}, 422, "k must be 1..1000, got 0"),
    ],
)
def test_vectors_refuses_bad_queries_with_a_reason(server, path, body, status, detail):
    got, answer = call(server, path, body)
    assert got == status
    assert detail in answer["detail"]
    assert call(server, "/similar/1?k=1")[0] == 200  # the worker serves on
