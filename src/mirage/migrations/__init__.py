"""Alembic migrations. Roles, RLS policies and grants live here, next to the tables."""
