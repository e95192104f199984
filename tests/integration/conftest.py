"""Fixtures for integration tests: real servers on free loopback ports."""
from tests.integration.browser import browser, live_server, new_page, page  # noqa: F401  (fixtures)
