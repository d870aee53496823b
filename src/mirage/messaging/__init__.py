"""Messaging: the human cadence model and the send pipeline."""
