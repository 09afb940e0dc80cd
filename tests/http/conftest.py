"""The ``service`` fixture: the app the add-in uses, on loopback, with a token, two allowed
origins, a 1 MB request limit and a SQLite store in a temp folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from addin_service import Service, make_config, serve, wait_ready

from correspondence_guard import Checker
from correspondence_guard.service.api import create_app
from correspondence_guard.service.security import uvicorn_limits
from correspondence_guard.store.db import Store


@pytest.fixture(scope="module")
def service(
    tmp_path_factory: pytest.TempPathFactory, checker: Checker, directory_path: Path
) -> Iterator[Service]:
    tmp = tmp_path_factory.mktemp("service")
    config = make_config(tmp, directory_path)
    store = Store(config.store.url)
    with serve(create_app(checker, config, store), limits=uvicorn_limits(config.service)) as base:
        wait_ready(base)
        yield Service(base, store, config)
    store.close()
