"""Outreach to external contacts: outreach policies (campaigns come next)."""
