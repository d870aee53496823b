"""Warm-up conversations between a tenant's own numbers: rounds, turns and the scheduler."""
