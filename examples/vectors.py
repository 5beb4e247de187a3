"""Nearest neighbours in an embedding matrix that is loaded once and searched from every core.

A FastAPI application.  The matrix (``VECTORS_ROWS`` x ``VECTORS_DIM`` float32,
generated from ``VECTORS_SEED``; 400,000 x 256 = 400 MB by default) is built
when the module is imported, in the main context, and handed to
``manycore.share()``, which makes it read-only.  The workers are forked after
that (or are threads), so four workers search one copy, not four: a numpy
array's data is one buffer that reading never writes.

    manycore serve examples/vectors.py:app --workers 4

    curl 'localhost:8080/similar/42?k=5'
    curl localhost:8080/nearest -H 'content-type: application/json' \\
         -d '{"vector": [0.1, 0.2, ...], "k": 5}'

Scores are cosine similarities (the rows are unit vectors).
"""

from __future__ import annotations

import os

import numpy as np
import numpy.typing as npt
from fastapi import FastAPI, HTTPException, Query
from pydantic import BaseModel

import manycore

ROWS = int(os.environ.get("VECTORS_ROWS", 400_000))
DIM = int(os.environ.get("VECTORS_DIM", 256))
SEED = int(os.environ.get("VECTORS_SEED", 0))
MAX_K = 1000


def embeddings(rows: int, dim: int, seed: int) -> npt.NDArray[np.float32]:
    """Random unit vectors: a stand-in for a model's embeddings, the same for the same seed."""
    matrix = np.random.default_rng(seed).standard_normal((rows, dim), dtype=np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix


MATRIX = manycore.share(embeddings(ROWS, DIM, SEED))

app = FastAPI(title="nearest neighbours")


class Neighbour(BaseModel):
    id: int
    score: float


class VectorQuery(BaseModel):
    vector: list[float]
    k: int = 10


def nearest(query: npt.NDArray[np.float32], k: int, exclude: int | None = None) -> list[Neighbour]:
    """The ``k`` rows most similar to ``query``, best first."""
    scores = MATRIX @ query
    if exclude is not None:
        scores[exclude] = -np.inf  # a fresh array: the shared matrix is not touched
    k = min(k, len(scores) - (exclude is not None))
    if k <= 0:
        return []
    top = np.argpartition(-scores, k - 1)[:k]
    top = top[np.argsort(-scores[top], kind="stable")]
    return [Neighbour(id=int(i), score=float(scores[i])) for i in top]


# The handlers are ``async def``: a search is one matrix product that keeps its core
# busy anyway, and every worker runs its own, so the work spreads over every core.


@app.get("/")
async def about() -> dict[str, int]:
    return {"rows": ROWS, "dim": DIM, "seed": SEED, "pid": os.getpid()}


@app.get("/similar/{row}")
async def similar(row: int, k: int = Query(10, ge=1, le=MAX_K)) -> list[Neighbour]:
    """The rows nearest to row ``row``, itself left out."""
    if not 0 <= row < ROWS:
        raise HTTPException(404, f"no row {row}: rows are 0..{ROWS - 1}")
    return nearest(MATRIX[row], k, exclude=row)


@app.post("/nearest")
async def nearest_to(body: VectorQuery) -> list[Neighbour]:
    """The rows nearest to a vector of ``DIM`` numbers (it need not be a unit vector)."""
    if len(body.vector) != DIM:
        raise HTTPException(422, f"the vector has {len(body.vector)} numbers; send {DIM}")
    if not 1 <= body.k <= MAX_K:
        raise HTTPException(422, f"k must be 1..{MAX_K}, got {body.k}")
    query = np.asarray(body.vector, dtype=np.float32)
    if not np.isfinite(query).all():
        raise HTTPException(422, "the vector must hold finite numbers")
    norm = float(np.linalg.norm(query))
    if norm == 0.0:
        raise HTTPException(422, "the zero vector has no direction to compare")
    return nearest(query / norm, body.k)
