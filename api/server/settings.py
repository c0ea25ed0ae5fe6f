"""Server settings, read from `SYMBIOSIS_*` environment variables (or passed in tests)."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from symbiosis.store import default_store_url, parse_store_url

__all__ = ["Settings"]


class Settings(BaseSettings):
    """Everything `symbiosis serve` can be told; each field is `SYMBIOSIS_<NAME>`."""

    model_config = SettingsConfigDict(env_prefix="SYMBIOSIS_", extra="ignore")

    store: str = Field(default_factory=default_store_url,
                       description="store URL: sqlite:///path or neo4j://host:7687")
    state: Path | None = Field(
        default=None,
        description="SQLite file for keys, run jobs and proposals (default: next to a "
                    "SQLite store, else under $XDG_DATA_HOME/symbiosis)")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    admin_key: str | None = Field(
        default=None, description="an admin key to accept (created if absent); for deployments "
                          "that provision keys from a secret store")
    log_level: str = "INFO"
    log_json: bool = True
    run_workers: int = Field(default=2, ge=1, le=64, description="match runs solved side by side")
    process_min_enterprises: int = Field(
        default=1000, ge=1, description="runs with at least this many enterprises are solved in a "
                                "worker process, so the server keeps answering")
    max_upload_mb: float = Field(default=50.0, gt=0)
    max_wait_s: float = Field(default=30.0, ge=0)
    store_busy_s: float = Field(
        default=60.0, gt=0, le=3600,
        description="how long a write to a SQLite store or the state file waits for another "
                    "writer's lock before the request is answered 503 with Retry-After")

    def state_path(self) -> Path:
        """Where the server's own SQLite file lives."""
        if self.state is not None:
            return Path(self.state).expanduser()
        target = parse_store_url(self.store)
        if target.is_sqlite and target.path is not None:
            return target.path.with_name(target.path.stem + "-api.db")
        data = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
        return Path(data) / "symbiosis" / "symbiosis-api.db"
