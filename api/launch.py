"""The `symbiosis` console script's entry point: `api.cli.main` with the start-up imports
done while the cyclic garbage collector is paused.

The CLI's imports (typer, rich, pydantic with the options and summary models) create about
60,000 objects the collector tracks, which live as long as the process. With the collector
running, its collections walk them again and again: 75 young and 7 middle collections,
about 9 ms of a province `match` (measured with `gc.callbacks`).
Paused, then frozen (`gc.freeze`: the objects move to a generation the collector never
walks), they cost nothing; the collector is back on before any command runs. The few
cycles the imports leave as garbage (a few hundred objects) stay in memory.

This module imports nothing heavy at its top: `from symbiosis.api.launch import main`,
which the console script runs, must come before the pause.
"""

from __future__ import annotations

import gc

__all__ = ["main"]


def main() -> None:
    """Import the command line with the collector paused, freeze, resume it, run."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        from symbiosis.api.cli import main as cli_main
    finally:
        gc.freeze()
        if enabled:
            gc.enable()
    cli_main()
