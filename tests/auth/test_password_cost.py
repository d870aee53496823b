"""Password hashing cost: production never goes below OWASP's argon2id floor, and a hash made
with other parameters (an older or cheaper cost) is re-hashed at its owner's next sign-in.

The suite itself hashes at the lowest cost (tests/conftest.py), which only ``env=test``
accepts."""

from __future__ import annotations

import httpx
import pytest
from argon2 import PasswordHasher, extract_parameters
from pydantic import ValidationError

from mirage.config import OWASP_ARGON2_MIN_MEMORY_KIB, OWASP_ARGON2_MIN_TIME_COST, Settings
from tests.conftest import PASSWORD, TenantFixture, sign_in, sql


def test_the_default_cost_is_rfc_9106s_and_above_owasps_floor(production_env: None) -> None:
    s = Settings(env="prod", secret_key="k" * 32)
    assert (s.argon2_memory_kib, s.argon2_time_cost, s.argon2_parallelism) == (65_536, 3, 4)
    assert s.argon2_memory_kib >= OWASP_ARGON2_MIN_MEMORY_KIB
    assert s.argon2_time_cost >= OWASP_ARGON2_MIN_TIME_COST


@pytest.mark.parametrize("env", ["prod", "dev"])
@pytest.mark.parametrize(
    "cost",
    [
        {"argon2_memory_kib": OWASP_ARGON2_MIN_MEMORY_KIB - 1},
        {"argon2_time_cost": OWASP_ARGON2_MIN_TIME_COST - 1},
        {"argon2_memory_kib": 64, "argon2_time_cost": 1},
    ],
)
def test_a_cost_below_owasps_floor_is_refused_outside_tests(
    env: str, cost: dict[str, int], production_env: None
) -> None:
    with pytest.raises(ValidationError, match="OWASP"):
        Settings(env=env, secret_key="k" * 32, **cost)  # type: ignore[arg-type]
    Settings(env="test", **cost)  # type: ignore[arg-type]


async def test_a_hash_of_another_cost_is_rehashed_at_sign_in(
    client: httpx.AsyncClient, tenant_a: TenantFixture, bootstrap_conninfo: str
) -> None:
    # As if the user had signed up under the production cost.
    old = PasswordHasher().hash(PASSWORD)
    update = "update users set password_hash = %s where id = %s"
    await sql(bootstrap_conninfo, update, old, tenant_a.user_id)
    await sign_in(client, tenant_a)
    [(stored,)] = await sql(
        bootstrap_conninfo, "select password_hash from users where id = %s", tenant_a.user_id
    )
    assert stored != old
    now = extract_parameters(stored)
    assert (now.memory_cost, now.time_cost, now.parallelism) == (64, 1, 1)  # this suite's cost
    # And the new hash still signs in.
    client.cookies.clear()
    await sign_in(client, tenant_a)
