"""GenAI client metric instruments (semconv v1.41 names and advisory bucket boundaries)."""

from __future__ import annotations

from typing import Any

from opentelemetry.metrics import Histogram, Meter

from llmotel import semconv as sc
from llmotel.records import Usage

DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
TOKEN_BUCKETS = (
    1,
    4,
    16,
    64,
    256,
    1024,
    4096,
    16384,
    65536,
    262144,
    1048576,
    4194304,
    16777216,
    67108864,
)


def _seconds(meter: Meter, name: str, description: str) -> Histogram:
    """A histogram of durations in seconds, with the semconv's advisory duration buckets."""
    return meter.create_histogram(
        name, unit="s", description=description, explicit_bucket_boundaries_advisory=DURATION_BUCKETS
    )


class GenAIMetrics:
    """The four GenAI client histograms, created once per meter."""

    __slots__ = ("duration", "off", "pending", "ready", "time_per_output_chunk", "time_to_first_chunk", "token_usage")

    def __init__(self, meter: Meter) -> None:
        self.ready = False
        """True once a real meter provider is behind the instruments (see ``active``)."""
        self.off = False
        """True when a no-op meter provider is behind the instruments (for good: never recorded)."""
        self.pending: Any = None
        """The API's proxy instrument while no meter provider has resolved it (set by ``active``):
        the per-call check is then one attribute read, until a provider is set."""
        self.duration = _seconds(meter, sc.METRIC_OPERATION_DURATION, "GenAI operation duration")
        self.token_usage: Histogram = meter.create_histogram(
            sc.METRIC_TOKEN_USAGE,
            unit="{token}",
            description="Number of input and output tokens used",
            explicit_bucket_boundaries_advisory=[float(b) for b in TOKEN_BUCKETS],
        )
        self.time_to_first_chunk = _seconds(
            meter, sc.METRIC_TIME_TO_FIRST_CHUNK, "Time from the request to the first chunk of a streamed response"
        )
        self.time_per_output_chunk = _seconds(
            meter,
            sc.METRIC_TIME_PER_OUTPUT_CHUNK,
            "Time between consecutive chunks of a streamed response (mean per stream)",
        )

    def active(self) -> bool:
        """False while only the API's proxy or no-op meter provider is behind the instruments
        (nothing would be recorded: skip building attributes). Once true, it stays true.

        Per call, callers ask only when ``pending`` is ``None`` or has been resolved (its
        ``_real_instrument`` set): while no meter provider is set, one attribute read.
        """
        if self.ready:
            return True
        if self.off:
            return False
        real = getattr(self.duration, "_real_instrument", self.duration)
        if real is None:  # the API's proxy, and no meter provider yet
            self.pending = self.duration
            return False
        self.pending = None
        self.ready = "NoOp" not in type(real).__name__
        self.off = not self.ready
        return self.ready

    def record(
        self,
        attrs: dict[str, Any],
        duration_s: float,
        usage: Usage | None,
        ttfc_s: float | None = None,
        tpoc_s: float | None = None,
    ) -> None:
        """Record one operation's measurements."""
        self.duration.record(duration_s, attrs)
        if usage is not None:
            if usage.input_tokens is not None:
                self.token_usage.record(usage.input_tokens, {**attrs, sc.GEN_AI_TOKEN_TYPE: "input"})
            if usage.output_tokens is not None:
                self.token_usage.record(usage.output_tokens, {**attrs, sc.GEN_AI_TOKEN_TYPE: "output"})
        if ttfc_s is not None:
            self.time_to_first_chunk.record(ttfc_s, attrs)
        if tpoc_s is not None:
            self.time_per_output_chunk.record(tpoc_s, attrs)
