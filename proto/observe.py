"""What makes a service operable, set up once at its start: its log format, its spans, its metrics port."""

from __future__ import annotations

from prometheus_client import start_http_server

from proto import logs, tracing
from proto.settings import BusSettings


class MetricsUnavailable(RuntimeError):
    """The metrics port could not be listened on."""

    def __init__(self, host: str, port: int, cause: OSError) -> None:
        self.port = port
        super().__init__(f"cannot serve metrics on {host}:{port} ({cause.strerror or cause}); choose another port")


def start(service: str, settings: BusSettings, metrics_port: int = 0) -> int | None:
    """Log as LOG_FORMAT says, make spans (exported only to an OTLP endpoint when one is set), and serve
    the process's Prometheus metrics on `metrics_port` (0: not served). The port served, if any."""
    logs.setup(service, settings.log_format, settings.log_level)
    tracing.setup(service, settings.otlp_endpoint)
    return serve_metrics(settings.metrics_host, metrics_port) if metrics_port else None


def serve_metrics(host: str, port: int) -> int:
    """Serve this process's metrics (prometheus_client's default registry) at http://host:port/metrics;
    the port served."""
    # prometheus_client's own server answers from a daemon thread: a scrape is served even while the event
    # loop is busy, and it ends with the process, so there is nothing to stop at shutdown.
    try:
        server, _ = start_http_server(port, addr=host)
    except OSError as error:
        raise MetricsUnavailable(host, port, error) from None
    served: int = server.server_port
    return served
