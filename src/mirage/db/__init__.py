"""Database access: engines per role, the tenant context, sessions and the embedded server."""
