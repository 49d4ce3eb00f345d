"""Shared pytest configuration: fixtures live in tests/fixtures/<area>.py, loaded as plugins."""

pytest_plugins = [
    "tests.fixtures.apple",
    "tests.fixtures.discord",
    "tests.fixtures.storage",
    "tests.fixtures.bot",
    "tests.fixtures.e2e",
    "tests.fixtures.elsewhere",
]
