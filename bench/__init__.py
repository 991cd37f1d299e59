"""Doorstep's benchmarks (never timed unit tests): ``python -m bench rules|sync [options]``.

One module a benchmark (``bench.rules``, ``bench.sync``), sharing ``bench.harness``: timing,
ratios, percentiles, the machine's description and the writer of docs/benchmarks.md's sections.
The product (``server``, the ``doorstep`` command) never imports this package.
"""
