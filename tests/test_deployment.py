"""Deployment as the README promises: a pinned requirements file for buildpacks, a Docker volume
for the SQLite default and a docker-compose.yml, a LICENSE matching pyproject, manifest scopes
each explained in the README, no unused runtime dependency, and a .env.example that runs."""

from __future__ import annotations

import re
import shutil
import tomllib
from pathlib import Path

from tests.test_cli_errors import run_abacus

REPO = Path(__file__).resolve().parents[1]
# distribution → the module it provides
MODULE = {"slack-bolt": "slack_bolt", "slack-sdk": "slack_sdk", "psycopg": "psycopg", "python-dotenv":
          "dotenv", "opentelemetry-proto": "opentelemetry.proto"}


def _name(requirement: str) -> str:
    return re.split(r"[\[<>=!~ ;]", requirement, maxsplit=1)[0].strip().lower()


def _runtime() -> list[str]:
    return [_name(d) for d in tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]]


def test_every_runtime_dependency_is_used_and_pinned():
    code = "\n".join(p.read_text() for top in ("bot", "core", "storage", "charts") for p in (REPO / top).rglob("*.py"))
    for dist in _runtime():
        module = MODULE.get(dist, dist.replace("-", "_"))
        assert re.search(rf"^\s*(import|from) {re.escape(module)}\b", code, re.M | re.I), f"{dist} is not used"
    assert "pandas" not in _runtime() and "pyrate-limiter" not in _runtime()
    lines = [ln for ln in (REPO / "requirements.txt").read_text().splitlines() if ln and not ln.startswith("#")]
    pinned = {_name(ln.replace("_", "-")) for ln in lines if "==" in ln}
    assert all(d in pinned for d in _runtime()), set(_runtime()) - pinned
    assert lines[-1] == "."  # installs Abacus itself, so the Procfile's `abacus run` exists
    assert (REPO / ".python-version").read_text().strip().startswith("3.")


def test_license_matches_pyproject():
    assert tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["license"] == "Apache-2.0"
    text = (REPO / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text


def test_docker_keeps_the_sqlite_default_on_a_volume():
    dockerfile = (REPO / "Dockerfile").read_text()
    assert "ENV DATABASE_URL=sqlite:////data/abacus.db" in dockerfile and 'VOLUME ["/data"]' in dockerfile
    compose = (REPO / "docker-compose.yml").read_text()
    assert "abacus-data:/data" in compose and re.search(r"^volumes:\n\s+abacus-data:", compose, re.M)


def test_every_manifest_scope_is_explained_in_the_readme():
    manifest = (REPO / "manifest.yml").read_text()
    block = manifest.split("bot:", 1)[1].split("settings:", 1)[0]
    scopes = re.findall(r"^\s+- ([a-z:.]+)", block, re.M)
    assert scopes and "commands" in scopes
    readme = (REPO / "README.md").read_text()
    for scope in scopes:
        assert re.search(rf"^\| `{re.escape(scope)}` \| \S", readme, re.M), scope


def test_env_example_runs_as_a_dot_env(tmp_path):
    shutil.copy(REPO / ".env.example", tmp_path / ".env")
    proc = run_abacus(["db", "upgrade"], {}, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "abacus.db").exists()


def test_env_example_leaves_the_images_database_on_its_volume():
    # docker-compose passes .env to the container (env_file), where it overrides the image's
    # ENV DATABASE_URL=sqlite:////data/abacus.db: a DATABASE_URL set in the example would put the
    # database outside the volume, and a new container would start empty
    from dotenv import dotenv_values

    assert "env_file: .env" in (REPO / "docker-compose.yml").read_text()
    assert "DATABASE_URL" not in dotenv_values(REPO / ".env.example")


def test_env_example_names_every_setting():
    from bot.config import FIELDS

    text = (REPO / ".env.example").read_text()
    for field in FIELDS:
        assert re.search(rf"^(# )?{field.env[0]}=", text, re.M), field.env[0]
