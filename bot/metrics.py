"""The process's Prometheus metrics: one :class:`Metrics` (one ``CollectorRegistry``) per bot.

Counters are counted where their events happen, through small callbacks handed to the parts that see them (the Apple
client's request observer, the store's ``on_fault``, the linking service's ``on_refused``, the command tree and the
buttons); gauges are set when ``/metrics`` is scraped (:class:`bot.health.Health`). Nothing here reads the database.

The README's "Health and metrics" table lists every metric; keep them in step.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from types import SimpleNamespace
from typing import Final

import aiohttp
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from bot.storage import AccountStatus, HoldReason, StorageFault, StoreCounts

__all__ = ["CONTENT_TYPE", "PREFIX", "Metrics"]

PREFIX: Final = "amrb_"
CONTENT_TYPE: Final = CONTENT_TYPE_LATEST
#: Seconds of the first-response histogram: Discord refuses a first response after 3 s.
RESPONSE_BUCKETS: Final = (0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 5.0)
#: Interactions whose first response is remembered until they finish (older ones are forgotten first).
_REMEMBERED: Final = 10_000
#: An interaction callback (the first response), as discord.py sends it: ``/interactions/{id}/{token}/callback``.
_CALLBACK: Final = re.compile(r"/interactions/(\d+)/[^/]+/callback$")


class Metrics:
    """Every metric of one bot, in its own registry (several bots may run in one process: the tests do)."""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._clock = clock
        #: interaction id → when Discord accepted its first response (wall clock, as the interaction's snowflake)
        self._responded: OrderedDict[int, float] = OrderedDict()
        r = self.registry
        self.interactions = Counter(
            PREFIX + "interactions",
            "Commands, menu entries and buttons handled, by command and outcome (ok, or the error's kind)",
            ["command", "outcome"],
            registry=r,
        )
        self.first_response = Histogram(
            PREFIX + "first_response_seconds",
            "From an interaction's creation to Discord accepting its first response, by command",
            ["command"],
            buckets=RESPONSE_BUCKETS,
            registry=r,
        )
        self.apple_requests = Counter(
            PREFIX + "apple_requests",
            "HTTP attempts at Apple Music, by kind of endpoint and status ('no answer': timeout or no connection)",
            ["kind", "status"],
            registry=r,
        )
        self.apple_rate_limited = Counter(PREFIX + "apple_rate_limited", "Apple Music answers 429", registry=r)
        self.apple_rate = Gauge(
            PREFIX + "apple_rate", "The Apple Music request rate the pacer learned, requests per second", registry=r
        )
        self.outbox_waiting = Gauge(
            PREFIX + "outbox_waiting", "Ratings in the outbox waiting to reach Apple Music (not held)", registry=r
        )
        self.outbox_oldest = Gauge(
            PREFIX + "outbox_oldest_seconds", "How long the oldest waiting rating of the outbox has waited", registry=r
        )
        self.held = Gauge(PREFIX + "outbox_held", "Ratings held in the outbox, by reason", ["reason"], registry=r)
        self.accounts = Gauge(
            PREFIX + "linked_accounts", "Linked Apple Music accounts, by status", ["status"], registry=r
        )
        self.database_up = Gauge(
            PREFIX + "database_up", "1 when the last scrape read the database's counts, else 0", registry=r
        )
        self.link_refused = Counter(
            PREFIX + "link_refused", "Link attempts refused (linking page or pasted), by reason", ["reason"], registry=r
        )
        self.store_errors = Counter(
            PREFIX + "store_errors",
            "Database calls that failed because it was unavailable, by fault",
            ["fault"],
            registry=r,
        )
        self.gateway_latency = Gauge(
            PREFIX + "gateway_latency_seconds", "Discord gateway heartbeat latency, by shard", ["shard"], registry=r
        )
        self.guilds = Gauge(PREFIX + "guilds", "Servers (guilds) this process's shards are in", registry=r)
        for fault in StorageFault:  # every series exists from the start: a rate() sees the first error
            self.store_errors.labels(fault=fault.value)
        self.set_counts(StoreCounts(0, 0.0, {}, {}))
        self.database_up.set(0)

    # ------------------------------------------------------------------ events
    def apple_request(self, kind: str, status: str) -> None:
        """The Apple client's request observer (:data:`bot.applemusic.RequestObserver`)."""
        self.apple_requests.labels(kind=kind, status=status).inc()
        if status == "429":
            self.apple_rate_limited.inc()

    def store_fault(self, fault: StorageFault) -> None:
        """The store's ``on_fault``."""
        self.store_errors.labels(fault=fault.value).inc()

    def refused_link(self, reason: str) -> None:
        """The linking service's ``on_refused``."""
        self.link_refused.labels(reason=reason).inc()

    def interaction(self, interaction_id: int, created_at: float, command: str, outcome: str) -> None:
        """An interaction was handled (its first response, if any, is over): count it, and observe how long its
        first response took after Discord created it (``created_at``, seconds since the epoch)."""
        self.interactions.labels(command=command, outcome=outcome).inc()
        responded = self._responded.pop(interaction_id, None)
        if responded is not None:
            self.first_response.labels(command=command).observe(max(0.0, responded - created_at))

    def http_trace(self) -> aiohttp.TraceConfig:
        """For discord.py's HTTP session (``http_trace``): notes when Discord accepts each interaction's first
        response (its callback), for :meth:`interaction`."""
        trace = aiohttp.TraceConfig()

        async def on_request_end(
            session: aiohttp.ClientSession, context: SimpleNamespace, params: aiohttp.TraceRequestEndParams
        ) -> None:
            found = _CALLBACK.search(params.url.path)
            if found is not None and params.response.status < 300:
                self._remember(int(found.group(1)))

        trace.on_request_end.append(on_request_end)
        return trace

    def _remember(self, interaction_id: int) -> None:
        self._responded[interaction_id] = self._clock()
        while len(self._responded) > _REMEMBERED:
            self._responded.popitem(last=False)

    # ------------------------------------------------------------------ gauges (set at scrape)
    def set_counts(self, counts: StoreCounts) -> None:
        self.outbox_waiting.set(counts.outbox_waiting)
        self.outbox_oldest.set(counts.oldest_waiting_seconds)
        _set_all(self.held, HoldReason, counts.held)
        _set_all(self.accounts, AccountStatus, counts.accounts)

    def set_gateway(self, latencies: Iterable[tuple[int, float]], guilds: int) -> None:
        self.gateway_latency.clear()  # a shard this process no longer runs leaves no series behind
        for shard, latency in latencies:
            self.gateway_latency.labels(shard=str(shard)).set(latency)
        self.guilds.set(guilds)

    def render(self) -> bytes:
        """The registry in Prometheus' text format."""
        return generate_latest(self.registry)


def _set_all(gauge: Gauge, names: Iterable[object], values: Mapping[str, int]) -> None:
    """Every known label value set (0 when absent), and any other the database holds."""
    for name in {*(str(n) for n in names), *values}:
        gauge.labels(name).set(values.get(name, 0))
