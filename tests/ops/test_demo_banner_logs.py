"""`mirage demo`: its log file under the data dir, and a banner true to the planned round.

A restarted demo used to promise a round "within a minute" while the policy (quiet hours)
deferred it for hours; and it printed nothing after its banner, keeping no log anywhere."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import structlog

from mirage.demo import configure_demo_logging, next_round_at, next_round_line
from mirage.kit.logging import configure_logging
from mirage.policy import WeeklyWindows

SP = ZoneInfo("America/Sao_Paulo")
ALL_DAY = WeeklyWindows.every_day((time(0, 0), time(0, 0)))
# 22:00-08:00 quiet hours, as the policy subtracts them from the windows.
QUIET = ALL_DAY.without_daily(time(22, 0), time(8, 0))


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    config = structlog.get_config()
    yield
    configure_logging("WARNING", json=False)
    structlog.configure(**config)
    root.handlers[:] = handlers
    root.setLevel(level)


def test_demo_logs_go_to_a_file_under_the_data_dir(
    tmp_path: Path, restore_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    path = configure_demo_logging(tmp_path / "data")
    assert path == (tmp_path / "data" / "logs" / "demo.log").resolve()
    structlog.get_logger("mirage.test").info("round.completed", round_id="r-1")
    logging.getLogger("procrastinate.worker").info("job started")
    structlog.get_logger("mirage.test").warning("gateway.slow", ms=900)
    for h in logging.getLogger().handlers:
        h.flush()
    text = path.read_text(encoding="utf-8")
    assert "round.completed" in text and "r-1" in text
    assert "job started" in text  # the standard library's loggers (procrastinate, uvicorn)
    assert "gateway.slow" in text
    err = capsys.readouterr().err
    assert "gateway.slow" in err  # warnings still reach the terminal
    assert "round.completed" not in err  # the terminal stays quiet under the banner


NOW = datetime(2026, 11, 30, 4, 0, tzinfo=UTC)  # 01:00 in São Paulo: inside quiet hours


def test_next_round_is_moved_past_quiet_hours() -> None:
    at = next_round_at(NOW, NOW - timedelta(minutes=5), running=False, windows=QUIET, zone=SP)
    assert at == datetime(2026, 11, 30, 8, 0, tzinfo=SP).astimezone(UTC)
    line = next_round_line(NOW, at, SP)
    assert "within a minute" not in line
    assert "08:00" in line and "in 7 h 00 min" in line and "America/Sao_Paulo" in line


def test_next_round_outside_quiet_hours_is_its_planned_time() -> None:
    noon = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)  # 12:00 in São Paulo
    soon = noon + timedelta(seconds=40)
    at = next_round_at(noon, soon, running=False, windows=QUIET, zone=SP)
    assert at == soon
    assert "within a minute" in next_round_line(noon, at, SP)
    later = noon + timedelta(minutes=25)
    at = next_round_at(noon, later, running=False, windows=QUIET, zone=SP)
    assert "12:25 today" in next_round_line(noon, at, SP) and "25 min" in next_round_line(
        noon, at, SP
    )
    assert next_round_at(noon, None, running=True, windows=QUIET, zone=SP) == noon
    assert next_round_at(noon, None, running=False, windows=QUIET, zone=SP) is None
    assert "no round planned" in next_round_line(noon, None, SP)


def test_banner_says_how_to_enroll_in_two_factor_authentication() -> None:
    from mirage.demo import mfa_lines

    text = "\n".join(mfa_lines("http://127.0.0.1:8000"))
    assert "http://127.0.0.1:8000/account/security" in text
    assert "authenticator" in text and "QR code" in text
