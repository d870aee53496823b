"""Connection URLs for the three roles, derived from one configured server URL."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import URL, make_url

OWNER_ROLE = "mirage_owner"
APP_ROLE = "mirage_app"
ADMIN_ROLE = "mirage_admin"


@dataclass(frozen=True)
class RoleUrls:
    bootstrap: URL  # a user that can create roles (superuser or CREATEROLE); migrations
    app: URL  # mirage_app: API and workers, subject to RLS
    admin: URL  # mirage_admin: explicit cross-tenant maintenance only

    def sync(self, url: URL) -> str:
        return url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)

    @staticmethod
    def libpq(url: URL) -> str:
        """A plain libpq URI (procrastinate's psycopg connector, psql)."""
        return url.set(drivername="postgresql").render_as_string(hide_password=False)


def derive(
    server_url: str,
    *,
    app_url: str | None = None,
    admin_url: str | None = None,
    role_password: str | None = None,
) -> RoleUrls:
    base = make_url(server_url).set(drivername="postgresql+psycopg")

    def as_role(role: str, explicit: str | None) -> URL:
        if explicit:
            return make_url(explicit).set(drivername="postgresql+psycopg")
        return base.set(username=role, password=role_password)

    return RoleUrls(
        bootstrap=base, app=as_role(APP_ROLE, app_url), admin=as_role(ADMIN_ROLE, admin_url)
    )
