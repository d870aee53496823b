"""The gateway's webhooks: authentication, normalization and idempotent persistence."""
