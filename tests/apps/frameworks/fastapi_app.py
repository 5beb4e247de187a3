"""A FastAPI app: a pydantic body, a dependency, and a background task.

The background task writes a file the request names, so a test on any engine (the task
runs in whichever worker answered) sees it ran after the response went out.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import BackgroundTasks, Depends, FastAPI, Header, HTTPException
from pydantic import BaseModel, Field

app = FastAPI()


class Item(BaseModel):
    name: str = Field(min_length=1)
    price: float = Field(gt=0)
    quantity: int = 1


class Total(BaseModel):
    name: str
    total: float


def api_key(x_api_key: Annotated[str | None, Header()] = None) -> str:
    """The dependency every protected route takes: a known key or 401."""
    if x_api_key != "secret":
        raise HTTPException(status_code=401, detail="missing or wrong X-API-Key")
    return x_api_key


@app.get("/plaintext")
async def plaintext() -> dict[str, str]:
    return {"message": "Hello, FastAPI!"}


@app.post("/items")
async def total(item: Item, key: Annotated[str, Depends(api_key)]) -> Total:
    return Total(name=item.name, total=item.price * item.quantity)


def _write_marker(path: str, text: str) -> None:
    Path(path).write_text(text)


@app.post("/later")
async def later(path: str, background: BackgroundTasks) -> dict[str, str]:
    background.add_task(_write_marker, path, "background task ran")
    return {"scheduled": path}
