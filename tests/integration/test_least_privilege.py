"""Each run of the async design gets its own vhost and one broker user per process role,
with only the rights the manifest grants: the API may publish jobs, never consume them;
the worker may consume its queue, never publish to the main exchange; in the outbox design
only the relay may publish, and the API has no rights at all."""

from __future__ import annotations

import re
import uuid

import pika
import pika.exceptions
import pytest

from offload.provisioning.broker_access import open_access
from offload.target.manifest import resolve_target
from targets.async_api.topology import ROUTING_KEY, Topology, blocking_connection


@pytest.fixture
def access(broker):
    yield from _access(broker, "async")


@pytest.fixture
def outbox_access(broker):
    yield from _access(broker, "outbox")


def _access(broker, design: str):
    if broker.control is None:
        pytest.skip("this broker cannot be administered (AMQP_URL): least privilege not applied")
    prefix = f"offload.lp.{uuid.uuid4().hex[:6]}"
    granted = open_access(
        broker,
        resolve_target(design),
        run_name=f"test-{uuid.uuid4().hex[:8]}",
        values={"queue_prefix": prefix, "queue_prefix_re": re.escape(prefix)},
    )
    topology = Topology(prefix, (0.5, 1.0))
    with blocking_connection(granted.admin_url) as admin:
        topology.declare(admin.channel())
    yield granted, topology
    vhost = granted.vhost
    granted.close()
    assert vhost not in broker.control.ctl("list_vhosts")  # torn down after the run


def _publish(url: str, exchange: str, routing_key: str) -> None:
    with blocking_connection(url) as connection:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.basic_publish(
            exchange, routing_key, b"{}", pika.BasicProperties(message_id="m"), mandatory=True
        )


def _consume(url: str, queue: str) -> None:
    with blocking_connection(url) as connection:
        connection.channel().basic_get(queue)


def test_the_api_user_can_publish_jobs_but_cannot_consume_them(access):
    granted, topology = access
    api = granted.url_for("server")
    assert api != granted.admin_url and granted.vhost in api

    _publish(api, topology.jobs_exchange, ROUTING_KEY)  # allowed
    with pytest.raises(pika.exceptions.ChannelClosedByBroker, match="ACCESS_REFUSED"):
        _consume(api, topology.work_queue)
    with pytest.raises(pika.exceptions.ChannelClosedByBroker, match="ACCESS_REFUSED"):
        _publish(api, topology.retry_exchange, "500")


def test_the_worker_user_can_consume_but_cannot_publish_to_the_main_exchange(access):
    granted, topology = access
    worker = granted.url_for("worker")

    _consume(worker, topology.work_queue)  # allowed
    _publish(worker, topology.retry_exchange, "500")  # allowed: scheduling a retry
    with pytest.raises(pika.exceptions.ChannelClosedByBroker, match="ACCESS_REFUSED"):
        _publish(worker, topology.jobs_exchange, ROUTING_KEY)
    with pytest.raises(pika.exceptions.ChannelClosedByBroker, match="ACCESS_REFUSED"):
        _consume(worker, topology.dead_queue)


def test_the_outbox_relay_may_only_publish_jobs_and_its_api_has_no_rights_at_all(outbox_access):
    granted, topology = outbox_access
    relay, api = granted.url_for("other"), granted.url_for("server")
    assert granted.admin_url not in (relay, api) and relay != api

    _publish(relay, topology.jobs_exchange, ROUTING_KEY)  # allowed
    with pytest.raises(pika.exceptions.ChannelClosedByBroker, match="ACCESS_REFUSED"):
        _consume(relay, topology.work_queue)
    with pytest.raises(pika.exceptions.ChannelClosedByBroker, match="ACCESS_REFUSED"):
        _publish(api, topology.jobs_exchange, ROUTING_KEY)
    with pytest.raises(pika.exceptions.ChannelClosedByBroker, match="ACCESS_REFUSED"):
        _consume(api, topology.work_queue)


def test_a_bench_run_uses_least_privilege_users(e2e_run_dir):
    import json

    manifest = json.loads((e2e_run_dir / "e2e-slow" / "manifest.json").read_text())
    access = manifest["designs"]["async"]["broker_access"]
    if manifest["broker"]["source"] == "env":
        pytest.skip("AMQP_URL broker: least privilege not applied")
    assert access["least_privilege"] is True
    assert set(access["users"]) == {"server", "worker"}
    worker_env = (e2e_run_dir / "e2e-slow" / "async" / "logs" / "async-worker-1.log").read_text()
    assert "could not declare" not in worker_env  # workers do not try to configure
