"""A property-based run over the whole OpenAPI (schemathesis): generated requests, valid
and invalid, with an admin key and with an enterprise key, never get a 5xx, and every
error answers in the one error shape."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from api_support import ADMIN_KEY, LiveServer, serving
from hypothesis import HealthCheck, given, settings


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory, demo_path: Path) -> Iterator[LiveServer]:
    yield from serving(tmp_path_factory.mktemp("fuzz"), demo_path)


@pytest.fixture(scope="module")
def api_schema(fuzzed: LiveServer) -> Any:
    return schemathesis.openapi.from_url(f"{fuzzed.url}/openapi.json")


@pytest.fixture(scope="module")
def enterprise_key(fuzzed: LiveServer) -> str:
    return fuzzed.key("enterprise", "XT-PWR1")


def _fuzz(api_schema: Any, headers: dict[str, str], examples: int) -> int:
    """Run generated cases against every operation; returns how many were sent. (The
    operations are driven with hypothesis directly: schemathesis' lazy pytest fixture does
    not work with pytest 9.2.)"""
    sent = 0
    for result in api_schema.get_all_operations():
        operation = result.ok()

        @settings(max_examples=examples, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def run(case: Any) -> None:
            nonlocal sent
            sent += 1
            response = case.call(headers=headers)
            try:
                _check(response)
            except AssertionError as exc:
                raise AssertionError(f"{case.method} {case.formatted_path}: {exc}") from None

        run()
    return sent


def _check(response: Any) -> None:
    assert response.status_code < 500, (response.status_code, response.text[:500])
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"error"}, body
        assert {"code", "message", "request_id"} <= set(body["error"]), body


def test_no_server_errors_as_admin(api_schema: Any) -> None:
    assert _fuzz(api_schema, {"Authorization": f"Bearer {ADMIN_KEY}"}, 25) > 500


def test_no_server_errors_as_an_enterprise(api_schema: Any, enterprise_key: str) -> None:
    assert _fuzz(api_schema, {"X-API-Key": enterprise_key}, 10) > 200
