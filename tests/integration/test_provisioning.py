"""Broker and database provisioning, against real brokers and databases (no mocks).

Starting a private RabbitMQ node costs several seconds, so the file starts two: one shared by
the BrokerControl tests (module fixture) and one that checks close() leaves nothing behind.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pika
import pika.exceptions
import psutil
import pytest
import sqlalchemy

from offload.errors import ProvisioningError
from offload.ports import LOOPBACK, free_port, is_loopback, port_open
from offload.provisioning import (
    Broker,
    amqp_handshake_ok,
    amqp_url,
    probe_docker_engine,
    provision_broker,
    provision_database,
)
from offload.provisioning.broker_access import run_definitions
from offload.provisioning.control import rabbitmq_script
from offload.run.supervisor import Supervisor
from offload.target.manifest import RolePermissions

SYSTEM_URL = amqp_url(LOOPBACK, 5672)
POSTGRES_URL = "postgresql://root@127.0.0.1:5432/test"

needs_system_broker = pytest.mark.skipif(
    not amqp_handshake_ok(SYSTEM_URL, timeout=3), reason="no RabbitMQ answers on 127.0.0.1:5672"
)
needs_rabbitmq_server = pytest.mark.skipif(
    rabbitmq_script("rabbitmq-server") is None, reason="rabbitmq-server is not installed"
)
needs_postgres = pytest.mark.skipif(
    not port_open("127.0.0.1", 5432), reason="no PostgreSQL on 127.0.0.1:5432"
)


@pytest.fixture(autouse=True)
def _no_user_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test states the AMQP_URL / DATABASE_URL it runs with."""
    monkeypatch.delenv("AMQP_URL", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)


@pytest.fixture(scope="module")
def private_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    if rabbitmq_script("rabbitmq-server") is None:
        pytest.skip("rabbitmq-server is not installed")
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("AMQP_URL", raising=False)
        broker = provision_broker(work_dir=tmp_path_factory.mktemp("broker"), require_owned=True)
    yield broker
    broker.close()


def _node_processes(node: str) -> list[psutil.Process]:
    """Processes (beam.smp and its shell) started for ``node``, found by their environment."""
    found = []
    for process in psutil.process_iter(["pid"]):
        try:
            if process.environ().get("RABBITMQ_NODENAME") == node:
                found.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/")[0])


def _publish_confirmed(url: str, *, blocked_timeout: float = 2.0) -> list[str]:
    """Publish one confirmed message; returns the blocked notifications seen (may raise)."""
    params = pika.URLParameters(url)
    params.blocked_connection_timeout = blocked_timeout
    params.socket_timeout = 5
    connection = pika.BlockingConnection(params)
    notices: list[str] = []
    connection.add_on_connection_blocked_callback(lambda _conn, _frame: notices.append("blocked"))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.queue_declare("offload-provisioning-test")
        channel.basic_publish("", "offload-provisioning-test", b"ping")
    finally:
        if connection.is_open:
            connection.close()
    return notices


# -- AMQP_URL --------------------------------------------------------------------------------


@needs_system_broker
def test_amqp_url_is_used_as_is_and_not_owned(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AMQP_URL", SYSTEM_URL)
    broker = provision_broker(work_dir=tmp_path)
    assert (broker.url, broker.source, broker.owned, broker.control) == (
        SYSTEM_URL,
        "env",
        False,
        None,
    )
    broker.close()
    assert amqp_handshake_ok(SYSTEM_URL, timeout=3), "closing must not touch the user's broker"


def test_amqp_url_with_another_scheme_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AMQP_URL", "http://127.0.0.1:5672/")
    with pytest.raises(ProvisioningError, match=r"AMQP_URL must be an amqp://"):
        provision_broker(work_dir=tmp_path)


def test_amqp_url_on_another_machine_is_refused_without_connecting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AMQP_URL", "amqp://guest:guest@203.0.113.7:5672/%2F")
    started = time.monotonic()
    with pytest.raises(ProvisioningError, match="loopback"):
        provision_broker(work_dir=tmp_path)
    assert time.monotonic() - started < 1


def test_amqp_url_where_nothing_answers_says_how_to_fix_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AMQP_URL", amqp_url(LOOPBACK, free_port(), password="s3cret"))
    with pytest.raises(ProvisioningError, match="unset AMQP_URL") as caught:
        provision_broker(work_dir=tmp_path)
    assert "s3cret" not in str(caught.value)


def test_require_owned_refuses_a_broker_named_by_amqp_url(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AMQP_URL", SYSTEM_URL)
    with pytest.raises(ProvisioningError, match="AMQP_URL") as caught:
        provision_broker(work_dir=tmp_path, require_owned=True)
    assert "does not own" in str(caught.value)
    assert "unset" in str(caught.value)


# -- the system broker ----------------------------------------------------------------------


@needs_system_broker
def test_system_broker_on_5672_is_used_when_amqp_url_is_unset(tmp_path: Path) -> None:
    broker = provision_broker(work_dir=tmp_path)
    assert (broker.url, broker.source, broker.owned) == (SYSTEM_URL, "local", False)
    if broker.control is not None:  # rabbitmqctl reached the node: admin only, no faults
        assert isinstance(broker.control.queue_depths("/"), dict)
        with pytest.raises(ProvisioningError, match="did not start it"):
            broker.control.stop_app()
        with pytest.raises(ProvisioningError, match="did not start it"):
            broker.control.block()
    broker.close()
    assert amqp_handshake_ok(SYSTEM_URL, timeout=3)


# -- nothing available -----------------------------------------------------------------------


def test_no_available_source_names_all_four_ways_to_get_a_broker(tmp_path: Path) -> None:
    with pytest.raises(ProvisioningError) as caught:
        provision_broker(work_dir=tmp_path, allow=("env",))
    message = str(caught.value)
    for option in ("AMQP_URL", "127.0.0.1:5672", "rabbitmq-server -detached", "Docker engine"):
        assert option in message
    assert "install rabbitmq-server" in message


def test_require_owned_never_falls_back_to_the_system_broker(tmp_path: Path) -> None:
    with pytest.raises(ProvisioningError, match=r"only 3 .* or 4"):
        provision_broker(work_dir=tmp_path, require_owned=True, allow=("env", "local"))


def test_unknown_broker_source_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ProvisioningError, match="unknown broker source"):
        provision_broker(work_dir=tmp_path, allow=("cloud",))


# -- containers ------------------------------------------------------------------------------


def test_docker_engine_detection_answers_within_3_seconds() -> None:
    started = time.monotonic()
    probe_docker_engine()
    assert time.monotonic() - started < 3


def test_docker_engine_that_accepts_but_never_answers_is_not_waited_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with socket.socket() as silent:  # accepts connections (backlog), never replies
        silent.bind((LOOPBACK, 0))
        silent.listen(4)
        monkeypatch.setenv("DOCKER_HOST", f"tcp://{LOOPBACK}:{silent.getsockname()[1]}")
        monkeypatch.delenv("DOCKER_TLS_VERIFY", raising=False)
        started = time.monotonic()
        probe = probe_docker_engine(timeout=1.0)
    assert not probe.available
    assert time.monotonic() - started < 2


def test_container_broker_when_a_docker_engine_answers(tmp_path: Path) -> None:
    probe = probe_docker_engine()
    if not probe.available:
        pytest.skip(f"no Docker engine answers ({probe.detail})")
    broker = provision_broker(work_dir=tmp_path, allow=("container",))
    try:
        assert broker.source == "container" and broker.owned
        assert amqp_handshake_ok(broker.url, timeout=5)
    finally:
        broker.close()


# -- the private node ------------------------------------------------------------------------


@needs_rabbitmq_server
def test_private_node_close_stops_every_process_and_removes_its_data(tmp_path: Path) -> None:
    supervisor = Supervisor()
    started = time.monotonic()
    broker = provision_broker(work_dir=tmp_path, require_owned=True, supervisor=supervisor)
    print(f"private node ready after {time.monotonic() - started:.1f} s")
    node = broker.control.node
    assert broker.source == "private" and broker.owned
    assert [c.name for c in supervisor] == [f"rabbitmq-{_port(broker.url)}"]
    assert _node_processes(node), "the node's processes should be found while it runs"
    broker.close()
    broker.close()  # idempotent
    assert _node_processes(node) == []
    assert not amqp_handshake_ok(broker.url, timeout=1)
    assert not list(tmp_path.glob("rabbitmq-*/")), "data directory removed"
    assert list(tmp_path.glob("rabbitmq-*.log")), "log kept for the run directory"
    assert amqp_handshake_ok(SYSTEM_URL, timeout=3) or not port_open(LOOPBACK, 5672)


def test_private_node_listens_on_its_own_loopback_port(private_broker: Broker) -> None:
    host = private_broker.url.split("@")[1].rsplit(":", 1)[0]
    port = _port(private_broker.url)
    assert is_loopback(host) and port != 5672
    assert private_broker.source == "private" and private_broker.owned
    assert amqp_handshake_ok(private_broker.url, timeout=3)
    assert private_broker.control.node == f"offload-{port}@localhost"


def test_stop_app_takes_the_broker_down_and_start_app_brings_it_back(
    private_broker: Broker,
) -> None:
    control = private_broker.control
    control.stop_app()
    try:
        assert not port_open(LOOPBACK, _port(private_broker.url))
        assert not amqp_handshake_ok(private_broker.url, timeout=2)
    finally:
        control.start_app()
    assert amqp_handshake_ok(private_broker.url, timeout=3)


def test_block_stalls_publishers_and_unblock_releases_them(private_broker: Broker) -> None:
    control = private_broker.control
    control.block()
    try:
        assert control.memory_alarm()
        try:
            notices = _publish_confirmed(private_broker.url, blocked_timeout=2.0)
        except pika.exceptions.ConnectionBlockedTimeout:
            notices = ["blocked (timed out)"]
        assert notices, "a publish during the memory alarm must be blocked"
    finally:
        control.unblock()
    assert not control.memory_alarm()
    assert _publish_confirmed(private_broker.url) == []


def test_queue_depths_and_least_privilege_setup(private_broker: Broker) -> None:
    control = private_broker.control
    # configure and read the jobs queue; write (publish) through the default exchange only
    grants = {"worker": RolePermissions(configure="^jobs$", write=r"^amq\.default$", read="^jobs$")}
    users = {"worker": "offload-worker"}

    def definitions(password: str) -> dict[str, Any]:
        return run_definitions("offload-test", "guest", users, {"worker": password}, grants, {})

    control.import_definitions(definitions("first"))
    control.import_definitions(definitions("second"))  # a leftover user gets the new password
    base = private_broker.url.rsplit("/", 1)[0] + "/offload-test"
    try:
        with pytest.raises(pika.exceptions.ProbableAuthenticationError):
            pika.BlockingConnection(
                pika.URLParameters(base.replace("guest:guest", "offload-worker:first"))
            )
        url = base.replace("guest:guest", "offload-worker:second")
        connection = pika.BlockingConnection(pika.URLParameters(url))
        channel = connection.channel()
        channel.queue_declare("jobs")
        for _ in range(3):
            channel.basic_publish("", "jobs", b"job")
        with pytest.raises(pika.exceptions.ChannelClosedByBroker):
            channel.queue_declare("not-allowed")
        connection.close()
        depths = {}
        deadline = time.monotonic() + 5
        while depths.get("jobs") != 3 and time.monotonic() < deadline:
            depths = control.queue_depths("offload-test")
        assert depths == {"jobs": 3}
    finally:
        control.delete_vhost("offload-test")
        control.delete_user("offload-worker")
    control.delete_vhost("offload-test")  # already gone: no error
    with pytest.raises(ProvisioningError, match="import_definitions"):
        grant = {"configure": ".*", "write": ".*", "read": ".*"}
        control.import_definitions({"permissions": [{"user": "nobody", "vhost": "/", **grant}]})


# -- database --------------------------------------------------------------------------------


def test_without_database_url_each_design_gets_a_sqlite_file_in_the_run_directory(
    tmp_path: Path,
) -> None:
    database = provision_database(work_dir=tmp_path, name="sync")
    assert (database.url, database.kind, database.schema) == (
        f"sqlite:///{tmp_path.resolve()}/sync.db",
        "sqlite",
        None,
    )
    engine = sqlalchemy.create_engine(database.url)
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text("CREATE TABLE users (id INTEGER PRIMARY KEY)"))
    engine.dispose()
    assert (tmp_path / "sync.db").exists()
    database.drop()
    assert not (tmp_path / "sync.db").exists()


@needs_postgres
def test_database_url_gets_a_fresh_schema_per_run_that_drop_removes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DATABASE_URL", POSTGRES_URL)
    first = provision_database(work_dir=tmp_path, name="async")
    second = provision_database(work_dir=tmp_path, name="async")
    try:
        assert first.kind == "postgresql"
        assert first.url.startswith("postgresql+psycopg://")
        assert first.schema.startswith("offload_async_") and first.schema != second.schema
        engine = sqlalchemy.create_engine(first.url)
        with engine.begin() as connection:  # unqualified names land in the run's schema
            current = connection.execute(sqlalchemy.text("SELECT current_schema()")).scalar()
            assert current == first.schema
            connection.execute(sqlalchemy.text("CREATE TABLE users (id INTEGER PRIMARY KEY)"))
            connection.execute(sqlalchemy.text("INSERT INTO users VALUES (1)"))
        engine.dispose()
        engine = sqlalchemy.create_engine(second.url)
        with engine.connect() as connection:
            visible = connection.execute(
                sqlalchemy.text(
                    "SELECT count(*) FROM information_schema.tables "
                    "WHERE table_name = 'users' AND table_schema = current_schema()"
                )
            ).scalar()
        engine.dispose()
        assert visible == 0, "a run never sees another run's rows"
    finally:
        first.drop()
        second.drop()
    engine = sqlalchemy.create_engine(POSTGRES_URL.replace("postgresql:", "postgresql+psycopg:"))
    with engine.connect() as connection:
        left = connection.execute(
            sqlalchemy.text("SELECT count(*) FROM pg_namespace WHERE nspname IN (:a, :b)"),
            {"a": first.schema, "b": second.schema},
        ).scalar()
    engine.dispose()
    assert left == 0


@needs_postgres
def test_postgres_scheme_is_normalised_to_psycopg(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgres://root@127.0.0.1:5432/test")
    database = provision_database(work_dir=tmp_path, name="sync")
    database.drop()
    assert database.url.startswith("postgresql+psycopg://root@127.0.0.1:5432/test")


def test_database_url_for_another_database_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DATABASE_URL", "mysql://root@127.0.0.1/test")
    with pytest.raises(ProvisioningError, match="postgresql://"):
        provision_database(work_dir=tmp_path, name="sync")


def test_unreachable_postgres_fails_quickly_with_a_clear_message(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"postgresql://root@127.0.0.1:{free_port()}/test")
    started = time.monotonic()
    with pytest.raises(ProvisioningError, match=r"did not accept a connection.*DATABASE_URL"):
        provision_database(work_dir=tmp_path, name="sync")
    assert time.monotonic() - started < 5


def test_postgres_that_never_answers_fails_within_the_connect_timeout(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with socket.socket() as silent:  # accepts connections (backlog), never speaks
        silent.bind((LOOPBACK, 0))
        silent.listen(4)
        port = silent.getsockname()[1]
        monkeypatch.setenv("DATABASE_URL", f"postgresql://root@127.0.0.1:{port}/test")
        started = time.monotonic()
        with pytest.raises(ProvisioningError, match="DATABASE_URL"):
            provision_database(work_dir=tmp_path, name="sync")
    assert time.monotonic() - started < 8
