"""The policy engine: one pure decision point for "may this number send this message now?"."""

from mirage.policy.engine import (
    Action,
    Decision,
    InvalidPolicy,
    NumberState,
    Reason,
    SendContext,
    TenantLoad,
    TenantPolicy,
    age_days,
    decide,
    effective_windows,
)
from mirage.policy.ramp import (
    HEALTH_STATES,
    QUARANTINED,
    SENDING_HEALTH,
    WARMUP_RAMP,
    Health,
    warmup_daily_cap,
)
from mirage.policy.windows import (
    ALWAYS,
    DEFAULT,
    NEVER,
    WeeklyWindows,
    local_day_start,
)

__all__ = [
    "ALWAYS",
    "DEFAULT",
    "HEALTH_STATES",
    "NEVER",
    "QUARANTINED",
    "SENDING_HEALTH",
    "WARMUP_RAMP",
    "Action",
    "Decision",
    "Health",
    "InvalidPolicy",
    "NumberState",
    "Reason",
    "SendContext",
    "TenantLoad",
    "TenantPolicy",
    "WeeklyWindows",
    "age_days",
    "decide",
    "effective_windows",
    "local_day_start",
    "warmup_daily_cap",
]
