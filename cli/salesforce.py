"""``fieldbridge salesforce package --out DIR [--force] [--api-version V]``: what an org
administrator deploys so that the org fits the active mapping.

It writes a Salesforce DX project for exactly the custom fields and objects the mapping
needs (the standard org's, or ``FIELDBRIDGE_SALESFORCE_MAPPING_FILE``), each as the start-up
check demands it, and a permission set for the integration user
(``mappings.salesforce.package``); the admin then runs ``sf project deploy start`` in DIR.
A DIR that holds anything is refused unless ``--force``, which replaces the package's own
``force-app/`` and ``sfdx-project.json`` there (a field the mapping no longer needs must not
stay behind in it) and leaves any other file alone.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from cli.console import err, stop
from cli.sync import _setup_failed
from connectors.salesforce import SalesforceSettings
from mappings.errors import MappingConfigError
from mappings.salesforce import package
from orchestrator.domain.errors import SetupError
from orchestrator.runtime.bootstrap import Container, bootstrap

salesforce_app = typer.Typer(
    help="The Salesforce org: the package of fields and objects to deploy to it.",
    no_args_is_help=True,
)
OWN = ("force-app", "sfdx-project.json")  # what --force replaces


def _api_version(container: Container, given: str | None) -> str:
    """The version asked for, else the connector's (``FIELDBRIDGE_SALESFORCE_API_VERSION``,
    or its default when Salesforce is not configured here)."""
    if given:
        return given
    settings = container.systems.settings.get("salesforce")
    if isinstance(settings, SalesforceSettings):
        return settings.api_version
    return str(SalesforceSettings.model_fields["api_version"].default)


def _make_room(out: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise stop(f"{out} is not a directory")
    if out.exists() and any(out.iterdir()):
        if not force:
            raise stop(f"{out} is not empty: choose an empty directory, or --force to replace")
        for name in OWN:
            path = out / name
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            elif path.exists() or path.is_symlink():
                path.unlink()


@salesforce_app.command("package")
def package_cmd(
    out: Annotated[Path, typer.Option("--out", help="The directory to write the project to.")],
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Write into a directory that is not empty (its force-app/ and "
            "sfdx-project.json are replaced; other files stay).",
        ),
    ] = False,
    api_version: Annotated[
        str | None,
        typer.Option(
            "--api-version",
            help="The project's sourceApiVersion (default: FIELDBRIDGE_SALESFORCE_API_VERSION).",
        ),
    ] = None,
) -> None:
    """Write a Salesforce DX project with exactly the custom fields and objects the mapping
    needs, and a permission set for the integration user; deploy it with `sf project deploy
    start`."""
    with bootstrap() as container:
        try:
            mapping = container.salesforce_mapping()
        except SetupError as exc:
            raise _setup_failed(exc) from None
        version = _api_version(container, api_version)
    try:
        written = package.files(mapping, version)
    except MappingConfigError as exc:
        raise _setup_failed(SetupError("no package can fit this mapping:", exc.problems)) from None
    _make_room(out, force)
    for relative, text in written.items():
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        typer.echo(path)
    fields = sum(1 for p in written if p.endswith(".field-meta.xml"))
    objects = sum(1 for p in written if p.endswith(".object-meta.xml"))
    err.print(
        f"{fields} fields, {objects} custom objects and the permission set "
        f"{package.PERMISSION_SET} in {escape(str(out))}. Deploy: cd {escape(str(out))} && "
        "sf project deploy start --source-dir force-app --target-org ORG; then assign "
        f"{package.PERMISSION_SET} to the integration user.",
        soft_wrap=True,
        highlight=False,
    )
