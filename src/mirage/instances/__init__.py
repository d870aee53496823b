"""WhatsApp numbers: gateway instances, pairing, live status and health."""
