"""Mirage: a multi-tenant orchestrator for fleets of WhatsApp numbers."""

__version__ = "0.1.0"
