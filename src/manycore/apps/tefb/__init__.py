"""All seven TechEmpower Framework Benchmark tests on PostgreSQL, on every core.

Start it with ``manycore tefb`` (:mod:`manycore.commands.tefb`).  Modules:
:mod:`.postgres` runs the embedded PostgreSQL server, :mod:`.schema` creates and
checks the ``hello_world`` data, :mod:`.app` is the HTTP application.  Importing
this package imports none of them, so ``manycore tefb --help`` stays fast.
"""
