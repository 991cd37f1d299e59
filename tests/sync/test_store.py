"""Runs the shared store suite against every backend of the ``backend`` fixture."""

from tests.sync.store_suite import StoreSuite


class TestStore(StoreSuite):
    pass
