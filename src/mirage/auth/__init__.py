"""Sign-in, sessions, CSRF, API tokens and the principal every request acts as."""
