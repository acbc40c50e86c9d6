"""The command line as a user runs it: migrate, token create/revoke, serve."""

from __future__ import annotations

import subprocess
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from tests.support import cli
from tests.support.cli import FIELDBRIDGE, START_S, cli_env, free_port

# These commands answer at once: one that hangs fails the test sooner than a sync's would.
run = partial(cli.run, timeout_s=60)


@pytest.fixture
def env(tmp_path: Path, database_url: str) -> dict[str, str]:
    return cli_env(database_url, tmp_path)


@pytest.mark.parametrize("backend", ["sqlite"])  # answered before any store is read
def test_help_lists_the_commands(env: dict[str, str]) -> None:
    out = run(env, "--help")
    assert out.returncode == 0
    for command in ("serve", "migrate", "token"):
        assert command in out.stdout


def test_token_create_prints_id_then_the_token_alone_and_revoke_ends_it(
    env: dict[str, str], tmp_path: Path
) -> None:
    assert run(env, "migrate").returncode == 0
    created = run(env, "token", "create", "--role", "dispatcher", "--subject", "dora", "--ttl", "1")
    assert created.returncode == 0, created.stderr
    lines = created.stdout.strip().splitlines()
    token_id, token = lines[0], lines[-1]
    assert token_id.startswith("tok_") and " " not in token and token.count(".") == 2
    assert (tmp_path / "key").exists(), "the embedded secret is generated once into its file"

    from fastapi.testclient import TestClient

    from api.app import create_app
    from orchestrator.runtime.bootstrap import bootstrap
    from orchestrator.runtime.settings import Settings

    settings = Settings(
        database_url=env["FIELDBRIDGE_DATABASE_URL"],
        secret_key_file=Path(env["FIELDBRIDGE_SECRET_KEY_FILE"]),
        attachments_dir=Path(env["FIELDBRIDGE_ATTACHMENTS_DIR"]),
    )
    container = bootstrap(settings)
    try:
        with TestClient(create_app(container=container)) as client:
            auth = {"Authorization": f"Bearer {token}"}
            assert client.get("/api/v1/work-orders", headers=auth).status_code == 200
            revoked = run(env, "token", "revoke", token_id)
            assert revoked.returncode == 0, revoked.stderr
            assert client.get("/api/v1/work-orders", headers=auth).status_code == 401
    finally:
        container.dispose()
    assert run(env, "token", "revoke", "tok_nope").returncode == 2


@pytest.mark.parametrize("backend", ["sqlite"])  # the command's own refusals, either store
def test_token_create_refuses_bad_input_clearly(env: dict[str, str]) -> None:
    assert run(env, "migrate").returncode == 0
    bad_role = run(env, "token", "create", "--role", "wizard", "--subject", "x")
    assert bad_role.returncode == 2 and "role" in bad_role.stderr
    no_tech = run(env, "token", "create", "--role", "technician", "--subject", "t")
    assert no_tech.returncode == 2 and "technician" in no_tech.stderr
    ghost = run(
        env, "token", "create", "--role", "technician", "--subject", "t", "--technician", "99"
    )
    assert ghost.returncode == 2 and "no technician with id 99" in ghost.stderr


@pytest.mark.parametrize("backend", ["sqlite"])  # answered before any store is read
def test_production_refuses_a_missing_or_weak_secret(env: dict[str, str]) -> None:
    env = {**env, "FIELDBRIDGE_ENV": "production"}
    for secret in (None, "changeme", "short"):
        secret_env = dict(env)
        if secret:
            secret_env["FIELDBRIDGE_SECRET_KEY"] = secret
        out = run(secret_env, "migrate")
        assert out.returncode == 2
        assert "FIELDBRIDGE_SECRET_KEY" in out.stderr
        assert "Traceback" not in out.stderr
        if secret:
            assert secret not in out.stderr, "a refused secret is never echoed"


@pytest.mark.parametrize("backend", ["sqlite"])  # its store is an empty file of its own
def test_serve_refuses_an_unmigrated_database(tmp_path: Path, env: dict[str, str]) -> None:
    env = {**env, "FIELDBRIDGE_DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}"}
    out = run(env, "serve", "--port", str(free_port()))
    assert out.returncode == 2 and "fieldbridge migrate" in out.stderr


def test_serve_answers_over_real_http(env: dict[str, str]) -> None:
    assert run(env, "migrate").returncode == 0
    token = run(env, "token", "create", "--role", "admin", "--subject", "ada").stdout.split()[-1]
    port = free_port()
    server = subprocess.Popen(
        [FIELDBRIDGE, "serve", "--host", "127.0.0.1", "--port", str(port), "--no-access-log"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + START_S
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not come up"
            time.sleep(0.2)
        auth = {"Authorization": f"Bearer {token}"}
        made = httpx.post(f"{base}/api/v1/work-orders", json={"summary": "x"}, headers=auth)
        assert made.status_code == 201
        assert (
            httpx.get(f"{base}{made.headers['location']}", headers=auth).json()["status"] == "new"
        )
    finally:
        server.terminate()
        server.wait(timeout=20)


@pytest.mark.parametrize("backend", ["sqlite"])  # answered before any store is read
def test_version_and_the_commands_in_the_order_a_newcomer_meets_them(env: dict[str, str]) -> None:
    from importlib.metadata import version

    from cli.main import ORDER

    shown = run(env, "--version")
    assert (shown.returncode, shown.stdout) == (0, f"fieldbridge {version('fieldbridge')}\n")
    listed = run(env, "--help").stdout
    panels = [listed.index(panel) for panel in ("─ Run ", "─ Operate ", "─ Plan ", "─ Try it out ")]
    assert panels == sorted(panels)
    places = [listed.index(f"│ {name} ") for name in ORDER]
    assert places == sorted(places), "listed as cli.main.ORDER says"


def test_a_command_imports_only_its_own_module() -> None:
    """The command line imports a command's module when that command runs: listing them
    loads none of the application's packages beyond the settings."""
    shown = subprocess.run(
        [sys.executable, "-c", "import sys, cli.main; print(' '.join(sorted(sys.modules)))"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    loaded = shown.stdout.split()
    heavy = ("scheduler", "sandbox", "devtools", "connectors", "mappings", "api", "sqlalchemy")
    assert [name for name in loaded if name.split(".")[0] in heavy] == []
    assert "cli.main" in loaded and "cli.sync" not in loaded


def test_every_help_text_reads_as_prose_without_markup() -> None:
    import typer
    from typer.testing import CliRunner

    from cli.main import app

    runner = CliRunner()
    paths: list[list[str]] = [[]]
    seen = []
    while paths:
        path = paths.pop()
        shown = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "100"})
        assert shown.exit_code == 0, (path, shown.output)
        for markup in ("``", ":class:", ":func:", "**", "\\b"):
            assert markup not in shown.output, (path, markup, shown.output)
        command: Any = typer.main.get_command(app)
        for part in path:
            command = command.get_command(typer.Context(command), part)
        if hasattr(command, "list_commands"):  # a group
            paths += [[*path, name] for name in command.list_commands(typer.Context(command))]
        seen.append(" ".join(path))
    assert len(seen) > 20 and "sync run" in seen and "outbox relay" in seen


@pytest.mark.parametrize("backend", ["sqlite"])  # answered before any store is read
def test_sync_run_without_settings_says_what_to_set_in_one_line(env: dict[str, str]) -> None:
    for system, variable in (("sap", "FIELDBRIDGE_SAP_URL"), ("hr", "FIELDBRIDGE_HR_TOKEN")):
        out = run(env, "sync", "run", "--system", system)
        assert out.returncode == 2
        (line,) = out.stderr.strip().splitlines()
        assert line.startswith(f"error: the {system} settings are incomplete: ")
        assert variable in line and "validation error" not in line
