"""Security checks run against a real round-trip: the conversation fixtures are reused."""

from tests.conversations.conftest import warm  # noqa: F401  (re-exported fixture)
