"""Chain callbacks: a first-class callback set for LLM chains, recorded in the trace.

::

    from llmotel import callbacks, trace_chain

    handlers = callbacks.Callbacks(my_handler_map, callbacks.TracingHandler())
    with trace_chain("weather-agent", chain=my_chain):
        handlers.fire("on_tool_execution_started", my_chain, tool_call, function)

``CALLBACK_NAMES`` lists the set; ``fire`` isolates handlers from each other and from the chain.
"""

from llmotel.callbacks.chain import trace_chain
from llmotel.callbacks.dispatch import (
    CALLBACK_NAMES,
    Callbacks,
    fire,
    handler_error_counts,
    reset_handler_errors,
)
from llmotel.callbacks.tracing import TracingHandler, unrouted_counts
from llmotel.telemetry.chains import ChainRun

__all__ = [
    "CALLBACK_NAMES",
    "Callbacks",
    "ChainRun",
    "TracingHandler",
    "fire",
    "handler_error_counts",
    "reset_handler_errors",
    "trace_chain",
    "unrouted_counts",
]
