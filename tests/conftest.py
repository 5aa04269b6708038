"""Shared fixtures: an isolated HUKOU_HOME, a fresh PostgreSQL database, a real S3 server,
and one Prefect test harness for the whole session (its start-up is slow)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "testdata"
PG_ADMIN_URL = os.environ.get("HUKOU_TEST_PG_ADMIN", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(scope="session")
def shared_testdata() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"third-party test data not found at {SHARED}")
    return SHARED


@pytest.fixture()
def hukou_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private HUKOU_HOME with no other HUKOU_* settings leaking in."""
    for key in list(os.environ):
        if key.startswith("HUKOU_") and not key.startswith("HUKOU_TEST_"):
            monkeypatch.delenv(key)
    home = tmp_path / "home"
    monkeypatch.setenv("HUKOU_HOME", str(home))
    return home


def _pg_available() -> bool:
    try:
        import psycopg2

        psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres", connect_timeout=3).close()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def pg_databases() -> Iterator[Callable[[], str]]:
    """Makes fresh PostgreSQL databases for this test run; drops them all at the end."""
    if not _pg_available():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not reachable on 127.0.0.1:5432 (trust auth expected)")
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    import psycopg2

    conn = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres")
    conn.autocommit = True
    made: list[str] = []

    def create() -> str:
        name = f"hukou_test_{secrets.token_hex(4)}"
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE {name} ENCODING 'UTF8' TEMPLATE template0")
        made.append(name)
        return f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}"

    try:
        yield create
    finally:
        with conn.cursor() as cur:
            for name in made:
                cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.close()


@pytest.fixture(scope="module")
def pg_url(pg_databases: Callable[[], str]) -> str:
    """A fresh PostgreSQL database for each test module, so modules never see each other's tables."""
    return pg_databases()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The SeaweedFS S3 server: the one scripts/test.sh started, else one of our own."""
    if os.environ.get("HUKOU_TEST_S3_ENDPOINT"):
        yield {
            "endpoint": os.environ["HUKOU_TEST_S3_ENDPOINT"],
            "access_key": os.environ["HUKOU_TEST_S3_ACCESS_KEY"],
            "secret_key": os.environ["HUKOU_TEST_S3_SECRET_KEY"],
        }
        return
    from scripts.seaweedfs import start_seaweedfs, stop_seaweedfs

    server = start_seaweedfs(tmp_path_factory.mktemp("weed"))
    try:
        yield {"endpoint": server.endpoint, "access_key": server.access_key, "secret_key": server.secret_key}
    finally:
        stop_seaweedfs(server, grace=1.0)  # weed never finishes its SIGTERM shutdown anyway


@pytest.fixture(scope="session")
def prefect_harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """One ephemeral Prefect server for every flow test in the session."""
    os.environ.setdefault("PREFECT_HOME", str(tmp_path_factory.mktemp("prefect")))
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
        yield
