"""ASGI applications served by manycore."""
