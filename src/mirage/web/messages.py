"""Messages translated at run time from dynamic values (roles, error titles and details).

Marked with N_ so `pybabel extract -k N_` puts them in the catalog.
"""

from __future__ import annotations

from mirage.kit.i18n import N_

ROLES = [N_("owner"), N_("admin"), N_("operator"), N_("viewer")]
ERRORS = [
    N_("Bad request"),
    N_("Not found"),
    N_("Unauthorized"),
    N_("Forbidden"),
    N_("Conflict"),
    N_("Validation failed"),
    N_("Payload too large"),
    N_("Too many requests"),
    N_("Service unavailable"),
    N_("CSRF check failed"),
    N_("Sign-in required"),
    N_("the form expired or did not come from this site; reload the page and try again"),
    N_("this action needs the 'admin' permission"),
    N_("this action needs the 'read' permission"),
    N_("this action needs the 'write' permission"),
    N_("a token cannot have more permissions than its creator"),
    N_("token name must have 1 to 80 characters"),
    N_("scopes must be a non-empty subset of ['read', 'write', 'admin']"),
    N_("API token not found"),
    N_("tenant not found"),
    N_("you are not a member of any tenant"),
    N_("number not found"),
    N_("a number with this name already exists"),
    N_("the name must have 1 to 80 characters"),
    N_("enter the phone number with country and area code, digits only"),
    N_("the number is not connected: connect it (QR code) instead of restarting"),
    N_("scanning from the dashboard only works with the simulator"),
    N_("persona not found"),
    N_("a persona with this name already exists"),
    N_("this persona is used by a conversation; change the conversation first"),
    N_("conversation not found"),
    N_("a conversation with this name already exists"),
    N_("a participant number does not exist"),
    N_("a participant persona does not exist"),
    N_("round not found"),
    N_("delays must satisfy 1 ≤ minimum ≤ maximum ≤ 3600 seconds"),
    N_("set both ends of the quiet hours, or neither"),
    N_("quiet hours must not start and end at the same time"),
    N_("the reply timeout must be between 30 s and 24 h"),
    N_("the AI base URL must start with http:// or https://"),
    # Form validators (schemas) whose texts reach the dashboard.
    N_("a greeting has at most 60 characters"),
    N_("give at least one greeting"),
    N_("a vocabulary hint has at most 40 characters"),
    N_("the name must not be blank"),
    N_("max_length must be at least min_length"),
    N_("give at least one topic"),
    N_("a topic has at most 80 characters"),
    N_("give both delay_min_s and delay_max_s, or neither"),
    N_("delay_max_s must be at least delay_min_s"),
    N_("a number can take part only once"),
]
