"""The security tests' default client (make_client: tests/unit/conftest.py)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.unit.conftest import MakeClient

__all__ = ["MakeClient"]


@pytest.fixture
def client(make_client: MakeClient) -> TestClient:
    return make_client()
