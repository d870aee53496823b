"""Jobs are deferred by their registered name (no domain imports another's tasks)."""

from __future__ import annotations

import pytest

from mirage.kit import jobs


def test_every_task_module_registers_its_tasks_by_name() -> None:
    task = jobs.task_named("conversations.on_inbound")
    assert task.name == "conversations.on_inbound"
    assert jobs.task_named("messaging.send_message").name == "messaging.send_message"


def test_an_unknown_name_fails_loudly() -> None:
    with pytest.raises(LookupError, match="no job is registered"):
        jobs.task_named("conversations.no_such_task")
