"""The counts the caps read: a number's sends in the rolling hour, since the day's start, its
last send, and its campaign sends today (new contacts, limited in the yellow band) — the same
whether asked alone (``send_counts``, the campaign's sender choice) or inside the send
decision's one statement (``policy_counts``, with the tenant's load and the number's other
sends being typed)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import psycopg

from mirage.db.engine import session_scope
from mirage.db.tenancy import tenant_context
from mirage.kit.clock import utcnow
from mirage.messaging.repository import OutgoingRepository
from tests import factories
from tests.conftest import TenantFixture


def _sent(
    conn: psycopg.Connection, t: TenantFixture, number: uuid.UUID, purpose: str, ago: timedelta
) -> None:
    conn.execute(
        "insert into outgoing_messages (id, tenant_id, instance_id, to_number, text, turn, "
        "planned_at, purpose, status, sent_at) values (%s, %s, %s, '5511999990000', 'oi', 0, "
        "now(), %s, 'sent', now() - %s)",
        (uuid.uuid4(), t.tenant_id, number, purpose, ago),
    )


async def test_alone_and_in_the_decision_the_counts_agree(
    tenant_a: TenantFixture, bootstrap_conninfo: str
) -> None:
    with psycopg.connect(bootstrap_conninfo, autocommit=True) as conn:
        number = factories.instances(conn, tenant_a.tenant_id)
        other = factories.instances(conn, tenant_a.tenant_id)
        for purpose, ago in (
            ("campaign", timedelta(minutes=5)),
            ("campaign", timedelta(minutes=90)),
            ("warmup", timedelta(minutes=10)),
            ("campaign", timedelta(days=2)),  # before today: not counted today
        ):
            _sent(conn, tenant_a, number, purpose, ago)
        _sent(conn, tenant_a, other, "warmup", timedelta(minutes=1))
        # Being typed: two of the number's sends claimed (one is the message being decided,
        # left out), and one of the other number's.
        typing: dict[int, uuid.UUID] = {}
        for instance_id, ms in ((number, 4000), (number, 9000), (other, 1000)):
            typing[ms] = uuid.uuid4()
            conn.execute(
                "insert into outgoing_messages (id, tenant_id, instance_id, to_number, text, "
                "turn, planned_at, purpose, status, claimed_at, typing_ms) values (%s, %s, %s, "
                "'5511999990000', 'oi', 0, now(), 'warmup', 'sending', now(), %s)",
                (typing[ms], tenant_a.tenant_id, instance_id, ms),
            )
    now = utcnow()
    # The day starts well before the sends of the last two hours, after the one of two days ago.
    day_start, hour_ago = now - timedelta(hours=3), now - timedelta(hours=1)
    with tenant_context(tenant_a.tenant_id):
        async with session_scope() as session:
            repo = OutgoingRepository(session)
            alone = await repo.send_counts(number, hour_ago=hour_ago, day_start=day_start)
            decided = await repo.policy_counts(
                number, hour_ago=hour_ago, day_start=day_start, deciding=typing[9000]
            )
    mine, tenant_hour, tenant_last = (
        decided.number,
        decided.tenant_last_hour,
        decided.tenant_last_sent_at,
    )
    assert (alone.last_hour, alone.today, alone.new_contacts_today) == (2, 3, 2)
    assert mine == alone
    assert tenant_hour == 3  # this number's two and the other's one
    assert tenant_last is not None and tenant_last > alone.last_sent_at  # type: ignore[operator]
    # Only the number's other send being typed: not the one decided, not another number's.
    assert [ms for _claimed, ms in decided.in_flight] == [4000]
