#!/usr/bin/python3
"""PgBouncer's pools for Prometheus, on top of Debian's prometheus-pgbouncer-exporter.

Debian's exporter (1.7) reads SHOW STATS and SHOW LISTS by columns that PgBouncer 1.8
renamed (total_requests, ...), so against the PgBouncer the store runs (>= 1.21, ADR 4)
every scrape fails. This runs the package's own collector class over the columns of
SHOW POOLS and SHOW DATABASES that the alerts need and that newer PgBouncers still have
(its `reserve_pool` is `reserve_pool_size` since 1.24, so it is left out), and reconnects after PgBouncer restarts (the package keeps one connection forever).

    pgbouncer_exporter.py LISTEN_HOST LISTEN_PORT PGBOUNCER_HOST PGBOUNCER_PORT USER
"""
import sys
from http.server import HTTPServer

from prometheus_client.core import REGISTRY, GaugeMetricFamily
from prometheus_client.exposition import MetricsHandler
from prometheus_pgbouncer_exporter.collectors import NamedColumnCollector
from prometheus_pgbouncer_exporter.utils import get_connection


class Link:
    """One admin-console connection, made again when it broke."""

    def __init__(self, host, port, user):
        self.args = (user, port, host)
        self.connection = None

    def get(self):
        if self.connection is None or self.connection.closed:
            self.connection = get_connection(*self.args)
        return self.connection

    def drop(self):
        try:
            if self.connection is not None:
                self.connection.close()
        finally:
            self.connection = None


class Pools(NamedColumnCollector):
    query_parameter = "POOLS"
    labels = ["database", "user"]
    metrics = {
        "cl_active": ("pools_client_active_connections", "Clients linked to a server connection"),
        "cl_waiting": ("pools_client_waiting_connections", "Clients waiting for a server connection"),
        "sv_active": ("pools_server_active_connections", "Server connections linked to a client"),
        "sv_idle": ("pools_server_idle_connections", "Server connections unused and ready"),
        "maxwait": ("pools_client_maxwait_seconds", "Age of the oldest waiting client"),
    }

    def get_labels_for_row(self, row):
        return [row["database"], row["user"]]


class Databases(NamedColumnCollector):
    query_parameter = "DATABASES"
    labels = ["database"]
    metrics = {
        "pool_size": ("databases_pool_size", "Server connections allowed per user/database pair"),
    }

    def get_labels_for_row(self, row):
        return [row["name"]]


class Collector:
    """Both views from one link, and pgbouncer_up (0 when PgBouncer does not answer)."""

    def __init__(self, link):
        self.link = link

    def collect(self):
        try:
            connection = self.link.get()
            families = []
            for kind in (Pools, Databases):
                collector = kind(connection)
                collector.databases = None
                families.extend(collector.collect())
            up = 1
        except Exception as error:  # any failure: report it as down, reconnect next time
            print(f"pgbouncer exporter: {error}", file=sys.stderr, flush=True)
            self.link.drop()
            families, up = [], 0
        yield from families
        yield GaugeMetricFamily("pgbouncer_up", "1 when PgBouncer's admin console answered", value=up)


def main():
    listen_host, listen_port, host, port, user = sys.argv[1:6]
    REGISTRY.register(Collector(Link(host, int(port), user)))
    HTTPServer((listen_host, int(listen_port)), MetricsHandler.factory(REGISTRY)).serve_forever()


if __name__ == "__main__":
    main()
