"""Metrics: rollups of messages, policy decisions and rounds; the Métricas page and API."""
