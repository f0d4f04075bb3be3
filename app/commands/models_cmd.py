"""``mistral-executor models``: list the server's models, their capabilities and the role defaults."""

from __future__ import annotations

import json
from typing import Annotated

import typer

_SHOWN_CAPABILITIES = (
    "chat",
    "function_calling",
    "vision",
    "fim",
    "ocr",
    "embeddings",
    "reasoning",
)


def models_command(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print models and roles as JSON.")
    ] = False,
    refresh: Annotated[bool, typer.Option("--refresh", help="Ignore the cached listing.")] = False,
) -> None:
    """List the Mistral models and their capabilities (MISTRAL_SERVER_URL, MISTRAL_API_KEY)."""
    from executor.mistral import ROLES, MistralClient, MistralError  # not at CLI start

    try:
        with MistralClient() as client:
            models = client.list_models(refresh=refresh)
            fallback = client.catalog.last_error
            roles = {}
            for role in ROLES:
                try:
                    roles[role] = client.model_for(role)
                except MistralError as exc:
                    roles[role] = f"error: {exc}"
            server_url = client.server_url
    except (MistralError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    source = "built-in list" if fallback else server_url
    if as_json:
        payload = {
            "server_url": server_url,
            "source": "builtin" if fallback else "server",
            "fallback_reason": str(fallback) if fallback else None,
            "models": [model.to_dict() for model in models],
            "roles": roles,
        }
        typer.echo(json.dumps(payload, indent=2))
        return
    if fallback:
        typer.echo(
            f"warning: could not list models ({fallback}); showing the built-in list.", err=True
        )
    width = max((len(model.id) for model in models), default=10)
    typer.echo(f"Models from {source}:")
    for model in models:
        if model.capabilities_known:
            caps = ", ".join(c for c in _SHOWN_CAPABILITIES if c in model.capabilities) or "-"
        else:
            caps = "capabilities unknown (server does not report them)"
        typer.echo(f"  {model.id:<{width}}  {caps}")
    typer.echo("Roles:")
    for role, model_id in roles.items():
        typer.echo(f"  {role:<10}  {model_id}")


def register(cli: typer.Typer) -> None:
    cli.command("models")(models_command)
