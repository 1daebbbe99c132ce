"""The Dockerfile, the README's Docker section and the Kubernetes sample tell one story.

No container engine runs here, so the image is never built by the tests: hadolint lints the
Dockerfile in .ci/run, and this test reads it and checks what the other two rely on.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy.engine import make_url

from bot.__main__ import build_parser
from bot.config import Settings

ROOT = Path(__file__).resolve().parents[1]
UID = "10001"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the final stage, continuation lines joined."""
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    joined = re.sub(r"\\\n\s*", " ", text)
    found = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    last_from = max(i for i, (word, _) in enumerate(found) if word == "FROM")
    return found[last_from:]


def one(word: str) -> str:
    [value] = [rest for w, rest in instructions() if w == word]
    return value


def env() -> dict[str, str]:
    values: dict[str, str] = {}
    for word, rest in instructions():
        if word == "ENV":
            values.update(re.findall(r"(\w+)=(\S+)", rest))
    return values


def readme_docker() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"^### Docker\n(.*?)(?=^##)", text, re.S | re.M)
    assert match is not None, "README has no ### Docker section"
    return match.group(1)


def deployment() -> dict[str, Any]:
    docs = list(yaml.safe_load_all((ROOT / "deploy/kubernetes.yaml").read_text()))
    [found] = [d for d in docs if d and d.get("kind") == "Deployment"]
    return dict(found)


def test_it_runs_the_bot() -> None:
    argv = json.loads(one("ENTRYPOINT")) + json.loads(one("CMD"))
    assert ["cce-upgrade-bot", "run"] == argv
    assert "cmd_run" == build_parser().parse_args(argv[1:]).func.__name__


def test_it_runs_as_a_non_root_user() -> None:
    assert UID == one("USER")
    assert f"--uid {UID}" in " ".join(rest for w, rest in instructions() if w == "RUN")


def test_the_database_lives_on_the_volume() -> None:
    assert ["/data"] == json.loads(one("VOLUME"))
    database = make_url(env()["DATABASE_URL"]).database
    assert database is not None and database.startswith("/data/")


def test_ports_are_the_settings_defaults_and_both_exposed() -> None:
    defaults = {name: str(Settings.model_fields[name].default) for name in ("port", "ops_port")}
    ports = env()
    assert (defaults["port"], defaults["ops_port"]) == (ports["PORT"], ports["OPS_PORT"])
    assert {ports["PORT"], ports["OPS_PORT"]} == set(one("EXPOSE").split())


def test_the_healthcheck_asks_healthz_on_the_ops_port() -> None:
    options, _, command = one("HEALTHCHECK").partition("CMD ")
    assert "--interval=" in options
    script = " ".join(json.loads(command))
    assert "/healthz" in script and "OPS_PORT" in script and env()["OPS_PORT"] in script
    assert "'PORT'" not in script


def test_the_readme_says_the_same() -> None:
    section = readme_docker()
    ports = env()
    for fact in (
        "docker build",
        f"uid {UID}",
        "/data",
        "HEALTHCHECK",
        "/healthz",
        "OPS_PORT",
        f"-p {ports['PORT']}:{ports['PORT']}",
        f"{ports['OPS_PORT']}:{ports['OPS_PORT']}",
        "hadolint",
    ):
        assert fact in section, fact
    assert re.search(r"not (been )?built", section), "the README must say the image is not built"


def test_the_kubernetes_sample_probes_and_scrapes_the_ops_port() -> None:
    spec = deployment()["spec"]["template"]
    annotations = spec["metadata"]["annotations"]
    [container] = spec["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    ops_port = int(env()["OPS_PORT"])
    assert ops_port == ports["ops"]
    assert "http" not in ports  # the sample runs Socket Mode: no Slack port
    assert {"name": "OPS_PORT", "value": str(ops_port)} in container["env"]
    assert {"path": "/readyz", "port": "ops"} == container["readinessProbe"]["httpGet"]
    assert {"path": "/healthz", "port": "ops"} == container["livenessProbe"]["httpGet"]
    assert (str(ops_port), "/metrics") == (
        annotations["prometheus.io/port"],
        annotations["prometheus.io/path"],
    )
    assert ["run"] == container["args"]
    assert int(UID) == spec["spec"]["securityContext"]["runAsUser"]


def test_ci_lints_the_dockerfile() -> None:
    script = (ROOT / ".ci/run").read_text()
    assert "hadolint Dockerfile" in script
    assert script.index("mypy") < script.index("hadolint") < script.index("pytest")
