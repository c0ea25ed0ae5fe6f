"""`symbiosis serve` (the HTTP API and web page) and `symbiosis keys` (API keys)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from symbiosis.api.cli_common import demo_dataset_path, err_console, out_console

__all__ = ["keys_app", "register", "serve"]

keys_app = typer.Typer(help="API keys for the HTTP API: create, list, revoke.",
                       no_args_is_help=True)

StoreOpt = Annotated[str | None, typer.Option(
    "--store", help="Store URL (default: $SYMBIOSIS_STORE, else the SQLite file under "
                    "~/.local/share/symbiosis).", show_default=False)]
StateOpt = Annotated[Path | None, typer.Option(
    "--state", help="The server's own SQLite file for keys, runs and proposals (default: "
                    "$SYMBIOSIS_STATE, else next to the store).", show_default=False)]


def _settings(store: str | None, state: Path | None, **more: Any) -> Any:
    """Settings from the options and SYMBIOSIS_* variables; a bad value names its variable."""
    from pydantic import ValidationError

    from symbiosis.api.server.settings import Settings
    from symbiosis.errors import SymbiosisError

    given: dict[str, Any] = {k: v for k, v in more.items() if v is not None}
    if store is not None:
        given["store"] = store
    if state is not None:
        given["state"] = state
    try:
        return Settings(**given)
    except ValidationError as exc:
        lines = [f"SYMBIOSIS_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}"
                 for e in exc.errors()]
        raise SymbiosisError("bad server settings:\n" + "\n".join(lines)) from None


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option("--role", help="admin, park_manager, enterprise or "
                                                     "recycler")],
    scope: Annotated[str, typer.Option("--scope", help="'*' for admin, a park name, or an "
                                                       "enterprise id")] = "*",
    label: Annotated[str, typer.Option("--label", help="Who the key is for.")] = "",
    store: StoreOpt = None, state: StateOpt = None,
) -> None:
    """Issue a key; it is printed once and only its hash is kept."""
    from symbiosis.api.server.auth import Role, issue_key
    from symbiosis.api.server.state import StateStore

    try:
        parsed = Role(role)
    except ValueError:
        raise typer.BadParameter(f"'{role}' is not one of admin, park_manager, enterprise, "
                                 "recycler", param_hint="--role") from None
    if (parsed is Role.admin) != (scope == "*"):
        raise typer.BadParameter("the admin role takes scope '*', and only it",
                                 param_hint="--scope")
    settings = _settings(store, state)
    subject = None
    if parsed in (Role.enterprise, Role.recycler):  # bind to the enterprise's identity
        from symbiosis.store import open_store

        with open_store(settings.store) as repo:
            subject = repo.enterprise_uid(scope)
    db = StateStore(settings.state_path())
    try:
        key, record = issue_key(db, parsed, scope, label, subject=subject)
    finally:
        db.close()
    typer.echo(key)
    err_console.print(f"key {record.id}: {record.role} for {record.scope!r}; keep it safe, it "
                      "is not shown again")


@keys_app.command("list")
def keys_list(store: StoreOpt = None, state: StateOpt = None) -> None:
    """List keys (never their secrets)."""
    from symbiosis.api.server.state import StateStore

    db = StateStore(_settings(store, state).state_path())
    try:
        table = Table("id", "role", "scope", "label", "created", "revoked")
        for k in db.api_keys():
            table.add_row(k.id, k.role, k.scope, k.label, k.created_at[:19],
                          (k.revoked_at or "")[:19])
        out_console.print(table)
    finally:
        db.close()


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="The key's id (sk_<id>_…).")],
                store: StoreOpt = None, state: StateOpt = None) -> None:
    """Revoke a key at once."""
    from symbiosis.api.server.state import StateStore
    from symbiosis.errors import StoreError

    db = StateStore(_settings(store, state).state_path())
    try:
        if not db.revoke_key(key_id):
            raise StoreError(f"no active key '{key_id}'")
    finally:
        db.close()
    err_console.print(f"revoked {key_id}")


def serve(
    host: Annotated[str | None, typer.Option("--host", help="Interface to listen on "
                                             "[default: 127.0.0.1]", show_default=False)
                    ] = None,
    port: Annotated[int | None, typer.Option("--port", help="[default: 8000]",
                                             show_default=False)] = None,
    store: StoreOpt = None, state: StateOpt = None,
    demo: Annotated[bool, typer.Option("--demo", help="Import the bundled Hunan demo "
                                       "first if the store is empty.")] = False,
) -> None:
    """Serve the HTTP API and the web page (embedded SQLite store by default)."""
    import uvicorn

    from symbiosis.api.server.app import create_app
    from symbiosis.api.server.auth import Role, issue_key
    from symbiosis.api.server.logs import configure_logging

    settings = _settings(store, state, host=host, port=port)
    configure_logging(settings.log_level, settings.log_json)
    app = create_app(settings)
    svc = app.state.services
    if demo and svc.region.snapshot().version is None:
        from symbiosis.dataset import load_dataset

        dataset = load_dataset(demo_dataset_path())
        svc.region.edit(lambda rows: rows, "symbiosis serve --demo", dataset=dataset)
        err_console.print(f"imported the demo: {len(dataset.enterprises)} enterprises")
    url = f"http://{settings.host}:{settings.port}/"
    if not any(k.role == "admin" and k.revoked_at is None for k in svc.state.api_keys()):
        key, _ = issue_key(svc.state, Role.admin, "*", "first admin (symbiosis serve)")
        err_console.print("no admin key existed, so one was made; it is shown this once:")
        typer.echo(f"{url}#key={key}")
    else:
        typer.echo(url)
        err_console.print("open it with a key (`symbiosis keys create --role …`) as "
                          f"{url}#key=<key>")
    if svc.region.snapshot().version is None:
        err_console.print("the store is empty: upload a dataset on the page or with POST "
                          "/api/datasets, or restart with --demo")
    uvicorn.run(app, host=settings.host, port=settings.port, access_log=False,
                log_config=None)


def register(app: typer.Typer) -> None:
    """Add `serve` and `keys` to the main command (once)."""
    if any(group.name == "keys" for group in app.registered_groups):
        return
    app.add_typer(keys_app, name="keys")
    app.command("serve")(serve)
