"""deploy/Dockerfile and deploy/compose.yaml, checked without Docker (it cannot run where Mirage
is developed; the image is built and run elsewhere): the compose file parses, every
long-running service has a health check, every dependency waits for health (or for the
one-shot migrate to succeed), every MIRAGE_* variable is a setting Mirage knows, every
`mirage` command it runs parses; the Dockerfile is multi-stage with locked dependencies, runs
as a non-root user with a health check, and copies no secrets."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import typer
import yaml

from mirage.cli import cli
from mirage.config import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def compose() -> dict[str, Any]:
    doc = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    assert isinstance(doc, dict) and doc.get("services"), "compose.yaml: no services"
    return doc


def one_shot(service: dict[str, Any]) -> bool:
    return service.get("restart") == "no"


def setting_names() -> set[str]:
    return {f"MIRAGE_{name.upper()}" for name in Settings.model_fields}


def env_example() -> dict[str, str]:
    out = {}
    for line in (DEPLOY / ".env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            out[key.strip()] = value
    return out


def test_compose_services_wait_on_health_and_use_known_settings() -> None:
    doc = compose()
    services: dict[str, dict[str, Any]] = doc["services"]
    assert {"postgres", "redis", "evolution", "migrate", "api", "worker"} <= set(services)
    assert services["evolution"]["image"].startswith("evoapicloud/evolution-api:")

    for name, service in services.items():
        check = service.get("healthcheck") or {}
        if one_shot(service):
            assert service.get("command"), f"{name}: a one-shot service runs a command"
            continue
        assert check.get("test") and not check.get("disable"), f"{name}: no health check"
        for target, dep in (service.get("depends_on") or {}).items():
            assert isinstance(dep, dict), f"{name}: depends_on {target} must name a condition"
            wanted = (
                "service_completed_successfully"
                if one_shot(services[target])
                else "service_healthy"
            )
            assert dep.get("condition") == wanted, f"{name} -> {target}: {dep}"
    for name in ("api", "worker"):
        waits = services[name]["depends_on"]
        assert waits["migrate"]["condition"] == "service_completed_successfully", name
        assert waits["postgres"]["condition"] == "service_healthy", name
    # The worker's stop timeout outlasts its shutdown drain (45 s, docs/operations.md).
    assert services["worker"]["stop_grace_period"] == "60s"

    known = setting_names()
    used = set(re.findall(r"\bMIRAGE_[A-Z0-9_]+", (DEPLOY / "compose.yaml").read_text()))
    used |= {k for k in env_example() if k.startswith("MIRAGE_")}
    used |= set(re.findall(r"\bMIRAGE_[A-Z0-9_]+", (DEPLOY / "Dockerfile").read_text()))
    assert used, "no MIRAGE_* variable found"
    assert used <= known, f"not Mirage settings: {sorted(used - known)}"

    # Every ${VAR} the file interpolates is in .env.example, or has a default.
    example = env_example()
    for var, default in re.findall(
        r"\$\{([A-Z0-9_]+)(:-[^}]*|:\?[^}]*)?\}", (DEPLOY / "compose.yaml").read_text()
    ):
        assert var in example or default.startswith(":-"), f"${{{var}}} not in .env.example"


def test_compose_runs_real_mirage_commands() -> None:
    group: Any = typer.main.get_command(cli)
    ran = []
    for service in compose()["services"].values():
        command = service.get("command")
        if not command or command[0] != "mirage":
            continue
        sub = group.commands[command[1]]  # KeyError: no such command
        # Parsing raises (a usage error) on an option the command does not have.
        sub.make_context(command[1], list(command[2:]), resilient_parsing=False)
        ran.append(command[1])
    assert sorted(ran) == ["api", "migrate", "worker"]


def test_dockerfile_is_multi_stage_non_root_healthy_and_copies_no_secrets() -> None:
    lines = []
    for raw in (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ").splitlines():
        if raw.strip() and not raw.lstrip().startswith("#"):
            lines.append(raw.strip())
    stages: list[list[str]] = []
    for line in lines:
        if line.upper().startswith("FROM "):
            stages.append([])
        if stages:
            stages[-1].append(line)
    assert len(stages) >= 2, "not a multi-stage build"
    build, runtime = stages[0], stages[-1]
    assert any("uv sync --frozen --no-dev" in line for line in build), "dependencies not locked"
    assert re.search(r"-slim", runtime[0]), "the runtime is not a slim image"
    assert not any("uv sync" in line or "pip install" in line for line in runtime)
    assert any(line.startswith("COPY --from=") for line in runtime)

    users = [shlex.split(line)[1] for line in runtime if line.upper().startswith("USER ")]
    assert users and users[-1].split(":")[0] not in {"0", "root"}, users
    assert any(line.upper().startswith("HEALTHCHECK ") and " CMD " in line for line in runtime)
    assert any(line.upper().startswith(("CMD ", "ENTRYPOINT ")) for line in runtime)

    secretish = re.compile(r"(^|/)(\.env|\.mirage|.*secret.*|.*\.key|.*\.pem)$", re.IGNORECASE)
    for line in lines:
        word = line.split()[0].upper()
        if word in {"COPY", "ADD"} and "--from=" not in line:
            sources = [a for a in shlex.split(line)[1:-1] if not a.startswith("--")]
            assert "." not in sources and "./" not in sources, f"copies the whole tree: {line}"
            assert not any(secretish.search(s.rstrip("/")) for s in sources), line
        if word in {"ENV", "ARG"}:
            names = re.findall(r"([A-Z_][A-Z0-9_]*)=", line) or line.split()[1:2]
            assert not any(re.search(r"SECRET|PASSWORD|TOKEN|API_KEY", n) for n in names), (
                f"a secret baked into the image: {line}"
            )

    # The build context holds only what the Dockerfile copies.
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    rules = [x for x in ignore if x and not x.startswith("#")]
    assert rules[0] == "**", "the context must exclude everything first"
    allowed = {x[1:] for x in ignore if x.startswith("!")}
    assert allowed == {"pyproject.toml", "uv.lock", "README.md", "src"}, allowed
