"""The CLI's command group builds each subcommand on first lookup (`api.cli._LazyGroup`):
the same commands, in the same order, as typer's eager group; running one builds that one
alone; a typo still gets typer's suggestion."""

from __future__ import annotations

from typing import Any

import pytest
import typer.main

from symbiosis.api.cli import app, command_group


def _names(group: Any) -> list[str]:
    ctx = group.make_context("symbiosis", ["--help"], resilient_parsing=True)
    return list(group.list_commands(ctx))


def test_lazy_group_lists_what_typer_builds_in_the_same_order() -> None:
    eager = typer.main.get_group(app)
    lazy = command_group()
    assert _names(lazy) == _names(eager)
    assert {"match", "robust", "db", "runs", "keys"} <= set(_names(lazy))
    assert lazy.commands == {}  # listing builds nothing


def test_lookup_builds_one_command_with_typer_s_parameters() -> None:
    eager = typer.main.get_group(app)
    lazy = command_group()
    ctx = lazy.make_context("symbiosis", ["--help"], resilient_parsing=True)
    match = lazy.get_command(ctx, "match")
    assert list(lazy.commands) == ["match"]
    expected = eager.get_command(ctx, "match")
    assert [p.name for p in match.params] == [p.name for p in expected.params]
    runs = lazy.get_command(ctx, "runs")  # a sub-group
    assert set(runs.commands) == set(eager.get_command(ctx, "runs").commands)


def test_a_typo_is_told_the_nearest_command() -> None:
    lazy = command_group()
    with pytest.raises(Exception, match=r"No such command 'matc'.*Did you mean 'match'"):
        lazy.main(["matc"], prog_name="symbiosis", standalone_mode=False)
