"""Provide the broker and the database a run needs: found if present, started if not.

The broker comes from ``AMQP_URL``, a RabbitMQ already on 127.0.0.1:5672, a private
``rabbitmq-server`` node, or a testcontainers container, in that order (docs/design.md,
"Provisioning"); the database from ``DATABASE_URL`` (a fresh PostgreSQL schema) or a SQLite file
in the run directory. Anything offload starts, it stops again: call ``close()`` / ``drop()``.
"""

from offload.provisioning.amqp import amqp_handshake_ok, amqp_url
from offload.provisioning.broker import Broker, BrokerSource, provision_broker, redact_url
from offload.provisioning.containers import EngineProbe, probe_docker_engine
from offload.provisioning.control import BrokerControl, QueueDepth
from offload.provisioning.database import Database, provision_database
from offload.provisioning.rabbitmq_node import PrivateNode, start_private_node

__all__ = [
    "Broker",
    "BrokerControl",
    "BrokerSource",
    "Database",
    "EngineProbe",
    "PrivateNode",
    "QueueDepth",
    "amqp_handshake_ok",
    "amqp_url",
    "probe_docker_engine",
    "provision_broker",
    "provision_database",
    "redact_url",
    "start_private_node",
]
