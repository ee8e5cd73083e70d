"""LangChain bridge: a callback handler that records LangChain runs as llmotel spans.

::

    from llmotel.integrations.langchain import LlmotelCallbackHandler

    handler = LlmotelCallbackHandler()  # or LlmotelCallbackHandler(tracer_provider=..., meter_provider=...)
    chain.invoke(x, config={"callbacks": [handler]})
    await chain.ainvoke(x, config={"callbacks": [handler]})
    for chunk in chain.stream(x, config={"callbacks": [handler]}): ...

or, for every run without touching the call sites, ``LangChainInstrumentor().instrument()`` (also
done by ``llmotel.instrument()`` and ``opentelemetry-instrument``).

One handler can serve any number of runs, threads and tasks. Mapping:

==============================================  =====================================================
LangChain callback                              llmotel
==============================================  =====================================================
``on_chat_model_start`` / ``on_llm_start``      ``chat {model}`` / ``text_completion {model}`` span
``on_llm_new_token``                            stream: chunk count, time to first chunk, chunk events
``on_llm_end`` / ``on_llm_error``               response id/model, finish reasons, usage / ERROR
``on_chain_start/end/error``                    ``invoke_workflow {name}`` (``invoke_agent {name}``)
``on_tool_start/end/error``                     ``execute_tool {name}`` span
``on_retry``, ``retry:attempt:N`` tags          ``llmotel.retry`` event (``llmotel.retry.attempt``)
``on_agent_action`` / ``on_agent_finish``       ``llmotel.agent.action`` / ``llmotel.agent.finish``
``on_custom_event``                             ``llmotel.custom_event`` event
==============================================  =====================================================

``import llmotel`` never imports LangChain, and neither does importing this package: the handler
(which imports ``langchain_core``) is loaded on first use of ``LlmotelCallbackHandler``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from llmotel.integrations.langchain._instrumentor import LangChainInstrumentor

if TYPE_CHECKING:
    from llmotel.integrations.langchain._extract import LangChainExtractor
    from llmotel.integrations.langchain.handler import DEFAULT_MAX_RUNS, LlmotelCallbackHandler

__all__ = ["DEFAULT_MAX_RUNS", "LangChainExtractor", "LangChainInstrumentor", "LlmotelCallbackHandler"]

_LAZY = {
    "LlmotelCallbackHandler": "handler",
    "DEFAULT_MAX_RUNS": "handler",
    "LangChainExtractor": "_extract",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
