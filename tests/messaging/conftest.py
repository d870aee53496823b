"""Send-pipeline tests run with real connected numbers: the conversation fixtures are reused."""

from tests.conversations.conftest import warm  # noqa: F401  (re-exported fixture)
