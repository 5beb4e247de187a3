"""Showcase applications built only on manycore's public API."""
