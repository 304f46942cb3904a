"""Per-process Prometheus metrics (text format on /metrics)."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Metrics:
    def __init__(self, service: str) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.service = service
        self.ready = Gauge("atcs_ready", "1 when the service can do its work", registry=self.registry)
        self.db_pool_size = Gauge("atcs_db_pool_connections", "open database connections", registry=self.registry)
        self.db_pool_idle = Gauge("atcs_db_pool_idle_connections", "idle database connections", registry=self.registry)
        self.rpc_requests = Counter("atcs_rpc_requests", "RPC requests served", ["method", "code"], registry=self.registry)
        self.rpc_latency = Histogram("atcs_rpc_latency_seconds", "RPC handling time", ["method"], registry=self.registry,
                                     buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5))
        self.task_restarts = Counter("atcs_task_restarts", "background task restarts", ["task"], registry=self.registry)
        self.queue_depth = Gauge("atcs_queue_depth", "rows waiting in a work queue", ["queue"], registry=self.registry)

    def observe_rpc(self, method: str, code: str, seconds: float) -> None:
        self.rpc_requests.labels(method, code).inc()
        self.rpc_latency.labels(method).observe(seconds)

    def counter(self, name: str, documentation: str, labels: tuple[str, ...] = ()) -> Counter:
        return Counter(name, documentation, labels, registry=self.registry)

    def gauge(self, name: str, documentation: str, labels: tuple[str, ...] = ()) -> Gauge:
        return Gauge(name, documentation, labels, registry=self.registry)

    def histogram(self, name: str, documentation: str, labels: tuple[str, ...] = (), **kwargs) -> Histogram:
        return Histogram(name, documentation, labels, registry=self.registry, **kwargs)

    def render(self) -> bytes:
        return generate_latest(self.registry)
