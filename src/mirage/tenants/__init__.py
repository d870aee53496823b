"""Tenants and memberships."""
