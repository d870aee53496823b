"""Contacts, tags, the consent ledger, suppression and data-subject requests."""
