"""The metrics refresh job: every 30 s, fold what changed since the watermark (any worker;
the refresh serialises itself with an advisory lock)."""

from __future__ import annotations

from mirage.kit.jobs import app
from mirage.metrics import service


@app.periodic(cron="* * * * * */30", periodic_id="metrics_refresh")
@app.task(name="metrics.refresh", queue="maintenance", pass_context=True)
async def refresh(context: object, timestamp: int | None = None) -> int:
    fold = await service.refresh()
    return fold.message_buckets + fold.decision_buckets + fold.round_buckets
