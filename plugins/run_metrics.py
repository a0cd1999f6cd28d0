"""The numbers genzoo stores with every run, registered like any plugin's metrics.

Test and validation bits/dim (or nats/obs for a series), the importance-weighted and Parzen
estimates, training time and throughput, parameters, sampling speed and the restoration gains:
:data:`genzoo.registry.metrics.RUN_METRICS`, where their keys, units and directions are
declared. Registered here, the dashboard and the CLI read them from the registry as they read a
third-party plugin's metrics.
"""

from __future__ import annotations

from genzoo.registry import hookimpl
from genzoo.registry.metrics import RUN_METRICS


@hookimpl
def register_metrics(register):
    """One MetricSpec per number a run carries."""
    for spec in RUN_METRICS:
        register(spec)
