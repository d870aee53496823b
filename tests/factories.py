"""Row factories per tenant table, used by the RLS matrix.

Every table with a tenant_id must have one here: the matrix test fails for a table without
one, so a new table cannot skip the isolation proof.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import psycopg

Factory = Callable[[psycopg.Connection, uuid.UUID], uuid.UUID]


def _user(conn: psycopg.Connection) -> uuid.UUID:
    uid = uuid.uuid4()
    conn.execute(
        "insert into users (id, email, display_name, password_hash) values (%s, %s, %s, 'x')",
        (uid, f"{uid.hex}@example.com", "rls"),
    )
    return uid


def memberships(conn: psycopg.Connection, tenant_id: uuid.UUID) -> uuid.UUID:
    rid = uuid.uuid4()
    conn.execute(
        "insert into memberships (id, tenant_id, user_id, role) values (%s, %s, %s, 'viewer')",
        (rid, tenant_id, _user(conn)),
    )
    return rid


def api_tokens(conn: psycopg.Connection, tenant_id: uuid.UUID) -> uuid.UUID:
    rid = uuid.uuid4()
    conn.execute(
        "insert into api_tokens (id, tenant_id, name, token_hash, hint, scopes) "
        "values (%s, %s, 'rls', %s, 'abcdef', '{read}')",
        (rid, tenant_id, uuid.uuid4().hex * 2),
    )
    return rid


def audit_events(conn: psycopg.Connection, tenant_id: uuid.UUID) -> uuid.UUID:
    rid = uuid.uuid4()
    conn.execute(
        "insert into audit_events (id, tenant_id, action, details) values (%s, %s, 'rls', '{}')",
        (rid, tenant_id),
    )
    return rid


def instances(conn: psycopg.Connection, tenant_id: uuid.UUID) -> uuid.UUID:
    rid = uuid.uuid4()
    conn.execute(
        "insert into instances (id, tenant_id, display_name, gateway_name, token_enc, "
        "webhook_secret_enc) values (%s, %s, %s, %s, 'x', 'x')",
        (rid, tenant_id, f"n-{rid.hex[:8]}", f"rls-{rid.hex}"),
    )
    return rid


def webhook_events(conn: psycopg.Connection, tenant_id: uuid.UUID) -> uuid.UUID:
    instance = instances(conn, tenant_id)
    row = conn.execute(
        "insert into webhook_events (tenant_id, instance_id, event, payload) "
        "values (%s, %s, 'messages.upsert', '{}') returning id",
        (tenant_id, instance),
    ).fetchone()
    assert row is not None
    return row[0]  # type: ignore[no-any-return]


def messages(conn: psycopg.Connection, tenant_id: uuid.UUID) -> uuid.UUID:
    rid = uuid.uuid4()
    conn.execute(
        "insert into messages (id, tenant_id, instance_id, provider_message_id, direction, "
        "from_me, remote_jid, message_type, status, status_rank, status_history) "
        "values (%s, %s, %s, %s, 'inbound', false, '5511999999999@s.whatsapp.net', "
        "'conversation', 'DELIVERY_ACK', 3, '[]')",
        (rid, tenant_id, instances(conn, tenant_id), rid.hex),
    )
    return rid


def personas(conn: psycopg.Connection, tenant_id: uuid.UUID) -> uuid.UUID:
    rid = uuid.uuid4()
    conn.execute(
        "insert into personas (id, tenant_id, name, style, vocabulary, emoji_rate, typo_rate, "
        "min_length, max_length, greetings) values (%s, %s, %s, 'casual', '{}', 0.1, 0.0, 5, "
        "80, '{}')",
        (rid, tenant_id, f"p-{rid.hex[:8]}"),
    )
    return rid


def conversations(conn: psycopg.Connection, tenant_id: uuid.UUID) -> uuid.UUID:
    rid = uuid.uuid4()
    conn.execute(
        "insert into conversations (id, tenant_id, name, topics, windows) "
        "values (%s, %s, %s, '{futebol}', '{}')",
        (rid, tenant_id, f"c-{rid.hex[:8]}"),
    )
    return rid


def conversation_participants(conn: psycopg.Connection, tenant_id: uuid.UUID) -> uuid.UUID:
    rid = uuid.uuid4()
    conn.execute(
        "insert into conversation_participants (id, tenant_id, conversation_id, instance_id, "
        "persona_id, position) values (%s, %s, %s, %s, %s, 0)",
        (
            rid,
            tenant_id,
            conversations(conn, tenant_id),
            instances(conn, tenant_id),
            personas(conn, tenant_id),
        ),
    )
    return rid


def rounds(conn: psycopg.Connection, tenant_id: uuid.UUID) -> uuid.UUID:
    rid = uuid.uuid4()
    conn.execute(
        "insert into rounds (id, tenant_id, conversation_id, topic, exchanges, planned_at) "
        "values (%s, %s, %s, 'futebol', 3, now())",
        (rid, tenant_id, conversations(conn, tenant_id)),
    )
    return rid


def round_slots(conn: psycopg.Connection, tenant_id: uuid.UUID) -> uuid.UUID:
    rid = uuid.uuid4()
    conn.execute(
        "insert into round_slots (id, tenant_id, conversation_id, starts_at, ends_at, "
        "instance_ids) values (%s, %s, %s, now(), now() + interval '10 minutes', %s)",
        (rid, tenant_id, conversations(conn, tenant_id), [instances(conn, tenant_id)]),
    )
    return rid


def round_members(conn: psycopg.Connection, tenant_id: uuid.UUID) -> uuid.UUID:
    rid = uuid.uuid4()
    conn.execute(
        "insert into round_members (id, tenant_id, round_id, instance_id) values (%s, %s, %s, %s)",
        (rid, tenant_id, rounds(conn, tenant_id), instances(conn, tenant_id)),
    )
    return rid


def outgoing_messages(conn: psycopg.Connection, tenant_id: uuid.UUID) -> uuid.UUID:
    rid = uuid.uuid4()
    conn.execute(
        "insert into outgoing_messages (id, tenant_id, instance_id, to_number, text, turn, "
        "planned_at) values (%s, %s, %s, '5511999990000', 'oi', 0, now())",
        (rid, tenant_id, instances(conn, tenant_id)),
    )
    return rid


def policy_decisions(conn: psycopg.Connection, tenant_id: uuid.UUID) -> uuid.UUID:
    rid = uuid.uuid4()
    conn.execute(
        "insert into policy_decisions (id, tenant_id, action, reason) "
        "values (%s, %s, 'defer', 'quiet_hours')",
        (rid, tenant_id),
    )
    return rid


def tenant_settings(conn: psycopg.Connection, tenant_id: uuid.UUID) -> uuid.UUID:
    rid = uuid.uuid4()
    conn.execute(
        "insert into tenant_settings (id, tenant_id) values (%s, %s) "
        "on conflict (tenant_id) do nothing",
        (rid, tenant_id),
    )
    return rid


def contacts(conn: psycopg.Connection, tenant_id: uuid.UUID) -> uuid.UUID:
    rid = uuid.uuid4()
    conn.execute(
        "insert into contacts (id, tenant_id, name, phone_e164, legal_basis, consent_state, "
        "provenance_source, provenance_at) values (%s, %s, 'rls', %s, 'consent', 'granted', "
        "'rls', now())",
        (rid, tenant_id, "+55119" + str(rid.int % 10**8).zfill(8)),
    )
    return rid


def tags(conn: psycopg.Connection, tenant_id: uuid.UUID) -> uuid.UUID:
    rid = uuid.uuid4()
    conn.execute(
        "insert into tags (id, tenant_id, name) values (%s, %s, %s)",
        (rid, tenant_id, f"t-{rid.hex[:8]}"),
    )
    return rid


def contact_tags(conn: psycopg.Connection, tenant_id: uuid.UUID) -> uuid.UUID:
    rid = uuid.uuid4()
    conn.execute(
        "insert into contact_tags (id, tenant_id, contact_id, tag_id) values (%s, %s, %s, %s)",
        (rid, tenant_id, contacts(conn, tenant_id), tags(conn, tenant_id)),
    )
    return rid


def consent_events(conn: psycopg.Connection, tenant_id: uuid.UUID) -> uuid.UUID:
    rid = uuid.uuid4()
    conn.execute(
        "insert into consent_events (id, tenant_id, contact_id, kind, legal_basis, source) "
        "values (%s, %s, %s, 'basis_recorded', 'consent', 'rls')",
        (rid, tenant_id, contacts(conn, tenant_id)),
    )
    return rid


def suppressions(conn: psycopg.Connection, tenant_id: uuid.UUID) -> uuid.UUID:
    rid = uuid.uuid4()
    conn.execute(
        "insert into suppressions (id, tenant_id, phone_hash, reason, source) "
        "values (%s, %s, %s, 'manual', 'rls')",
        (rid, tenant_id, rid.hex * 2),
    )
    return rid


def data_requests(conn: psycopg.Connection, tenant_id: uuid.UUID) -> uuid.UUID:
    rid = uuid.uuid4()
    conn.execute(
        "insert into data_requests (id, tenant_id, kind, subject_kind, subject_hash) "
        "values (%s, %s, 'find', 'phone', %s)",
        (rid, tenant_id, rid.hex * 2),
    )
    return rid


def contact_imports(conn: psycopg.Connection, tenant_id: uuid.UUID) -> uuid.UUID:
    rid = uuid.uuid4()
    conn.execute(
        "insert into contact_imports (id, tenant_id, filename, size_bytes, encoding, delimiter, "
        "header, mapping) values (%s, %s, 'rls.csv', 10, 'utf-8', ';', '[\"telefone\"]', "
        '\'{"telefone": "phone"}\')',
        (rid, tenant_id),
    )
    return rid


def contact_import_parts(conn: psycopg.Connection, tenant_id: uuid.UUID) -> uuid.UUID:
    rid = uuid.uuid4()
    conn.execute(
        "insert into contact_import_parts (id, tenant_id, import_id, seq, data) "
        "values (%s, %s, %s, 0, 'telefone')",
        (rid, tenant_id, contact_imports(conn, tenant_id)),
    )
    return rid


def contact_import_rows(conn: psycopg.Connection, tenant_id: uuid.UUID) -> uuid.UUID:
    rid = uuid.uuid4()
    conn.execute(
        "insert into contact_import_rows (id, tenant_id, import_id, row_number, reason, cells) "
        "values (%s, %s, %s, 1, 'missing_phone', '[\"x\"]')",
        (rid, tenant_id, contact_imports(conn, tenant_id)),
    )
    return rid


def outreach_policies(conn: psycopg.Connection, tenant_id: uuid.UUID) -> uuid.UUID:
    rid = uuid.uuid4()
    conn.execute(
        "insert into outreach_policies (id, tenant_id, name, weekdays, dayparts, contact_start, "
        "contact_end, optout_keywords, confirmation_text, validity_minutes, duplicate_limit, "
        "duplicate_window_minutes) values (%s, %s, %s, '{0,1,2,3,4}', '{morning,afternoon}', "
        "'08:00', '18:00', '{}', 'ok', 240, 3, 60)",
        (rid, tenant_id, f"p-{rid.hex[:8]}"),
    )
    return rid


def campaigns(conn: psycopg.Connection, tenant_id: uuid.UUID) -> uuid.UUID:
    rid = uuid.uuid4()
    conn.execute(
        "insert into campaigns (id, tenant_id, name, policy_id, variants) "
        "values (%s, %s, %s, %s, '{\"Oi {nome}\"}')",
        (rid, tenant_id, f"c-{rid.hex[:8]}", outreach_policies(conn, tenant_id)),
    )
    return rid


def campaign_recipients(conn: psycopg.Connection, tenant_id: uuid.UUID) -> uuid.UUID:
    rid = uuid.uuid4()
    conn.execute(
        "insert into campaign_recipients (id, tenant_id, campaign_id, contact_id, phone_e164) "
        "values (%s, %s, %s, %s, %s)",
        (rid, tenant_id, campaigns(conn, tenant_id), contacts(conn, tenant_id), "+5511999990000"),
    )
    return rid


def invitations(conn: psycopg.Connection, tenant_id: uuid.UUID) -> uuid.UUID:
    rid = uuid.uuid4()
    conn.execute(
        "insert into invitations (id, tenant_id, email, role, token_hash, expires_at) "
        "values (%s, %s, %s, 'viewer', %s, now() + interval '7 days')",
        (rid, tenant_id, f"{rid.hex}@example.com", rid.hex * 2),
    )
    return rid


def metrics_message_hours(conn: psycopg.Connection, tenant_id: uuid.UUID) -> uuid.UUID:
    row = conn.execute(
        "insert into metrics_message_hours (tenant_id, instance_id, hour, direction, kind, "
        "messages) values (%s, %s, date_trunc('hour', now()), 'outbound', 'manual', 1) "
        "returning id",
        (tenant_id, instances(conn, tenant_id)),
    ).fetchone()
    assert row is not None
    return row[0]  # type: ignore[no-any-return]


def metrics_tenant_hours(conn: psycopg.Connection, tenant_id: uuid.UUID) -> uuid.UUID:
    row = conn.execute(
        "insert into metrics_tenant_hours (tenant_id, hour, direction, kind, messages) "
        "values (%s, date_trunc('hour', now()), 'inbound', 'manual', 1) returning id",
        (tenant_id,),
    ).fetchone()
    assert row is not None
    return row[0]  # type: ignore[no-any-return]


def metrics_number_days(conn: psycopg.Connection, tenant_id: uuid.UUID) -> uuid.UUID:
    row = conn.execute(
        "insert into metrics_number_days (tenant_id, instance_id, day, sent) "
        "values (%s, %s, current_date, 1) returning id",
        (tenant_id, instances(conn, tenant_id)),
    ).fetchone()
    assert row is not None
    return row[0]  # type: ignore[no-any-return]


def metrics_decision_hours(conn: psycopg.Connection, tenant_id: uuid.UUID) -> uuid.UUID:
    row = conn.execute(
        "insert into metrics_decision_hours (tenant_id, instance_id, hour, action, reason, "
        "decisions) values (%s, %s, date_trunc('hour', now()), 'defer', 'quiet_hours', 1) "
        "returning id",
        (tenant_id, uuid.UUID(int=0)),
    ).fetchone()
    assert row is not None
    return row[0]  # type: ignore[no-any-return]


def metrics_campaign_recipients(conn: psycopg.Connection, tenant_id: uuid.UUID) -> uuid.UUID:
    rid = uuid.uuid4()
    conn.execute(
        "insert into metrics_campaign_recipients (id, tenant_id, campaign_id, status, reason, "
        "recipients) values (%s, %s, %s, 'sent', '', 1)",
        (rid, tenant_id, campaigns(conn, tenant_id)),
    )
    return rid


def metrics_round_hours(conn: psycopg.Connection, tenant_id: uuid.UUID) -> uuid.UUID:
    row = conn.execute(
        "insert into metrics_round_hours (tenant_id, hour, state, rounds) "
        "values (%s, date_trunc('hour', now()), 'completed', 1) returning id",
        (tenant_id,),
    ).fetchone()
    assert row is not None
    return row[0]  # type: ignore[no-any-return]


def number_signals(conn: psycopg.Connection, tenant_id: uuid.UUID) -> uuid.UUID:
    rid = uuid.uuid4()
    conn.execute(
        "insert into number_signals (id, tenant_id, instance_id, kind, code) "
        "values (%s, %s, %s, 'disconnect', 408)",
        (rid, tenant_id, instances(conn, tenant_id)),
    )
    return rid


def safety_alerts(conn: psycopg.Connection, tenant_id: uuid.UUID) -> uuid.UUID:
    rid = uuid.uuid4()
    conn.execute(
        "insert into safety_alerts (id, tenant_id, instance_id, kind, band, opened_at) "
        "values (%s, %s, %s, 'risk_band', 'red', now())",
        (rid, tenant_id, instances(conn, tenant_id)),
    )
    return rid


def safety_alert_deliveries(conn: psycopg.Connection, tenant_id: uuid.UUID) -> uuid.UUID:
    rid = uuid.uuid4()
    conn.execute(
        "insert into safety_alert_deliveries (id, tenant_id, alert_id, event, channel, attempt, "
        "outcome) values (%s, %s, %s, 'opened', 'webhook', 1, 'sent')",
        (rid, tenant_id, safety_alerts(conn, tenant_id)),
    )
    return rid


def tenant(conn: psycopg.Connection) -> uuid.UUID:
    tid = uuid.uuid4()
    conn.execute(
        "insert into tenants (id, name, slug) values (%s, %s, %s)", (tid, "rls", f"rls-{tid.hex}")
    )
    return tid


FACTORIES: dict[str, Factory] = {
    "memberships": memberships,
    "api_tokens": api_tokens,
    "audit_events": audit_events,
    "instances": instances,
    "webhook_events": webhook_events,
    "messages": messages,
    "personas": personas,
    "conversations": conversations,
    "conversation_participants": conversation_participants,
    "rounds": rounds,
    "round_members": round_members,
    "round_slots": round_slots,
    "outgoing_messages": outgoing_messages,
    "policy_decisions": policy_decisions,
    "tenant_settings": tenant_settings,
    "contacts": contacts,
    "tags": tags,
    "contact_tags": contact_tags,
    "consent_events": consent_events,
    "suppressions": suppressions,
    "data_requests": data_requests,
    "contact_imports": contact_imports,
    "contact_import_parts": contact_import_parts,
    "contact_import_rows": contact_import_rows,
    "outreach_policies": outreach_policies,
    "campaigns": campaigns,
    "campaign_recipients": campaign_recipients,
    "invitations": invitations,
    "metrics_message_hours": metrics_message_hours,
    "metrics_tenant_hours": metrics_tenant_hours,
    "metrics_number_days": metrics_number_days,
    "metrics_decision_hours": metrics_decision_hours,
    "metrics_round_hours": metrics_round_hours,
    "metrics_campaign_recipients": metrics_campaign_recipients,
    "number_signals": number_signals,
    "safety_alerts": safety_alerts,
    "safety_alert_deliveries": safety_alert_deliveries,
}
