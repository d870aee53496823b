-- Cluster roles, created idempotently by `mirage migrate` before Alembic runs.
-- mirage_owner owns the schema; mirage_app is the runtime login (RLS applies to it);
-- mirage_admin bypasses RLS for explicit cross-tenant maintenance only.
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'mirage_owner') THEN
    CREATE ROLE mirage_owner NOLOGIN;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'mirage_app') THEN
    CREATE ROLE mirage_app LOGIN;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'mirage_admin') THEN
    CREATE ROLE mirage_admin LOGIN;
  END IF;
END
$$;
ALTER ROLE mirage_app NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
ALTER ROLE mirage_admin NOSUPERUSER BYPASSRLS NOCREATEDB NOCREATEROLE;
ALTER ROLE mirage_owner NOSUPERUSER NOBYPASSRLS;
-- Lets a non-superuser bootstrap account (managed PostgreSQL) switch to the owner.
GRANT mirage_owner TO CURRENT_USER;
GRANT USAGE, CREATE ON SCHEMA public TO mirage_owner;
GRANT USAGE ON SCHEMA public TO mirage_app, mirage_admin;
