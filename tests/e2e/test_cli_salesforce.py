"""``fieldbridge salesforce package``: the files an org administrator deploys, for the active
mapping (the standard one, or ``FIELDBRIDGE_SALESFORCE_MAPPING_FILE``'s). In process (Typer's
runner with the command's environment): every run would otherwise pay the start of a
process."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from cli.main import app

OBJECTS = Path("force-app/main/default/objects")
NOTES = OBJECTS / "WorkOrder/fields/Fieldbridge_Notes__c.field-meta.xml"
CERTIFICATION = (
    OBJECTS / "Fieldbridge_Certification__c/Fieldbridge_Certification__c.object-meta.xml"
)
PERMISSION_SET = Path(
    "force-app/main/default/permissionsets/Fieldbridge_Integration.permissionset-meta.xml"
)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str | None]:
    """This test's store and secret, and no ``FIELDBRIDGE_*`` of the caller's."""
    monkeypatch.chdir(tmp_path)
    outer: dict[str, str | None] = {k: None for k in os.environ if k.startswith("FIELDBRIDGE_")}
    return outer | {
        "FIELDBRIDGE_DATABASE_URL": f"sqlite:///{tmp_path / 'fb.db'}",
        "FIELDBRIDGE_ATTACHMENTS_DIR": str(tmp_path / "att"),
        "FIELDBRIDGE_SECRET_KEY_FILE": str(tmp_path / "key"),
    }


def package(env: dict[str, str | None], *args: str) -> Result:
    return CliRunner().invoke(app, ["salesforce", "package", *args], env=env)


def written(out: Path) -> set[Path]:
    return {p.relative_to(out) for p in out.rglob("*") if p.is_file()}


def test_package_writes_the_project_for_the_standard_mapping(
    env: dict[str, str | None], tmp_path: Path
) -> None:
    out = tmp_path / "org-package"
    result = package(env, "--out", str(out), "--api-version", "62.0")
    assert result.exit_code == 0, result.output
    files = written(out)
    assert {Path("sfdx-project.json"), NOTES, CERTIFICATION, PERMISSION_SET} <= files
    assert {Path(line) for line in result.stdout.splitlines() if line.startswith("/")} == {
        out / f for f in files
    }
    assert '"sourceApiVersion": "62.0"' in (out / "sfdx-project.json").read_text()
    assert "sf project deploy start" in result.stderr
    fields = [f for f in files if f.name.endswith(".field-meta.xml")]
    assert len(fields) == 21 and all(f.name.endswith("__c.field-meta.xml") for f in fields)


def test_a_mapping_that_drops_a_field_leaves_its_file_out_and_force_replaces_the_old(
    env: dict[str, str | None], tmp_path: Path
) -> None:
    out = tmp_path / "org-package"
    assert package(env, "--out", str(out)).exit_code == 0
    assert NOTES in written(out)
    (out / "deploy-notes.txt").write_text("the admin's own file")
    (tmp_path / "org.toml").write_text('[work_order]\nnotes = ""\n')
    env = env | {"FIELDBRIDGE_SALESFORCE_MAPPING_FILE": str(tmp_path / "org.toml")}

    refused = package(env, "--out", str(out))
    assert refused.exit_code == 2
    assert "is not empty" in refused.stderr and "--force" in refused.stderr
    assert NOTES in written(out), "nothing written when refused"

    forced = package(env, "--out", str(out), "--force")
    assert forced.exit_code == 0, forced.output
    files = written(out)
    assert NOTES not in files and CERTIFICATION in files
    assert "WorkOrder.Fieldbridge_Notes__c" not in (out / PERMISSION_SET).read_text()
    assert (out / "deploy-notes.txt").read_text() == "the admin's own file"


def test_a_mapping_file_that_cannot_be_read_stops_with_one_line(
    env: dict[str, str | None], tmp_path: Path
) -> None:
    env = env | {"FIELDBRIDGE_SALESFORCE_MAPPING_FILE": str(tmp_path / "missing.toml")}
    result = package(env, "--out", str(tmp_path / "out"))
    assert result.exit_code == 2
    assert result.stderr.startswith("error: cannot read the mapping file")
    assert not (tmp_path / "out").exists()
