"""What the runner knows about the app: learned only from `app.get_functions()` (the function.json
each decorator produces), the way the Functions host indexes a Python v2 app.

`load_app()` imports `function_app.py`; `discover()` turns every function into a `FunctionSpec`
(trigger binding, output bindings); `Invoker` calls the user function (async awaited, sync in a
thread) with its trigger value and `func.Out` stand-ins for output bindings, and writes queue outputs
afterwards, as the host does (after the function returns, before the trigger message is deleted).
"""

from __future__ import annotations

import asyncio
import base64
import importlib.util
import inspect
import json
import logging
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("docintel_dr.local.host")

_SETTING_REF = re.compile(r"%([^%]+)%")


def resolve(value: str, settings: Mapping[str, str]) -> str:
    """Replace `%NAME%` by the app setting NAME (the host's binding expression for settings)."""

    def lookup(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in settings:
            raise KeyError(f"the binding refers to app setting '{name}', which is not set")
        return settings[name]

    return _SETTING_REF.sub(lookup, value)


def load_app(script: Path) -> Any:
    """Import a `function_app.py` and return its one `FunctionApp` object (the worker's rule)."""
    import azure.functions as func

    script = script.resolve()
    if str(script.parent) not in sys.path:
        sys.path.insert(0, str(script.parent))
    module_name = script.stem
    module = sys.modules.get(module_name)
    if module is None or Path(getattr(module, "__file__", "") or "").resolve() != script:
        spec = importlib.util.spec_from_file_location(module_name, script)
        if spec is None or spec.loader is None:
            raise RuntimeError(f"cannot import {script}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    apps = [v for v in vars(module).values() if isinstance(v, func.FunctionRegister)]
    if len(apps) != 1:
        raise RuntimeError(
            f"{script} must define exactly one FunctionApp object at module level (found {len(apps)})"
        )
    return apps[0]


@dataclass
class FunctionSpec:
    name: str
    trigger: dict[str, Any]  # the trigger binding of function.json
    outputs: list[dict[str, Any]]  # output bindings other than $return
    returns: dict[str, Any] | None  # the $return binding, if any
    user_function: Callable[..., Any]

    @property
    def trigger_type(self) -> str:
        return str(self.trigger["type"])

    @property
    def arg_name(self) -> str:
        return str(self.trigger["name"])


def discover(app: Any) -> list[FunctionSpec]:
    """Every function of the app. `get_functions()` may be called only once per app object."""
    if getattr(app, "functions_bindings", None):
        # The uniqueness check caches names: a second host over the same app object (tests) would
        # otherwise be told that every function name is taken.
        app.functions_bindings = None
    specs = []
    for function in app.get_functions():
        document = json.loads(function.get_function_json())
        bindings = document["bindings"]
        triggers = [b for b in bindings if str(b["type"]).endswith("Trigger")]
        if len(triggers) != 1:
            raise RuntimeError(f"function {function.get_function_name()} must have exactly one trigger")
        outputs = [b for b in bindings if b["direction"].upper() == "OUT" and b["name"] != "$return"]
        returns = next((b for b in bindings if b["name"] == "$return"), None)
        specs.append(
            FunctionSpec(
                function.get_function_name(), triggers[0], outputs, returns, function.get_user_function()
            )
        )
    return specs


class FunctionTimeout(TimeoutError):
    """An invocation ran past host.json `functionTimeout`; the host fails it."""


@dataclass
class Out:
    """Stands in for `func.Out[T]`."""

    value: Any = None

    def set(self, value: Any) -> None:
        self.value = value

    def get(self) -> Any:
        return self.value


@dataclass
class Invoker:
    """Calls one user function, within host.json `functionTimeout`, and writes its queue output
    bindings."""

    spec: FunctionSpec
    queue_output: Callable[[dict[str, Any], list[str]], Any] | None = None
    timeout: float | None = None  # seconds; None: no limit

    async def __call__(self, trigger_value: Any) -> Any:
        outs = {b["name"]: Out() for b in self.spec.outputs}
        kwargs: dict[str, Any] = {self.spec.arg_name: trigger_value, **outs}
        parameters = inspect.signature(self.spec.user_function).parameters
        if "context" in parameters and "context" not in kwargs:
            kwargs["context"] = None
        if inspect.iscoroutinefunction(self.spec.user_function):
            call = self.spec.user_function(**kwargs)
        else:
            # A thread cannot be stopped: past the timeout its invocation fails, the thread runs on.
            call = asyncio.to_thread(self.spec.user_function, **kwargs)
        try:
            result = await asyncio.wait_for(call, self.timeout)
        except TimeoutError:
            raise FunctionTimeout(
                f"Timeout value of {self.timeout:g} s was exceeded by function: Functions.{self.spec.name}"
            ) from None
        for binding in self.spec.outputs:
            value = outs[binding["name"]].get()
            if value is None:
                continue
            if binding["type"] == "queue":
                if self.queue_output is None:
                    raise RuntimeError(f"no queue output available for {self.spec.name}")
                await self.queue_output(binding, _queue_payloads(value))
            else:
                log.warning(
                    "%s: output binding type %s is not emulated; value dropped",
                    self.spec.name,
                    binding["type"],
                )
        return result


def _queue_payloads(value: Any) -> list[str]:
    import azure.functions as func

    items = value if isinstance(value, list) else [value]
    payloads = []
    for item in items:
        if isinstance(item, func.QueueMessage):
            item = item.get_body()
        if isinstance(item, bytes):
            payloads.append(item.decode())
        elif isinstance(item, str):
            payloads.append(item)
        else:
            payloads.append(json.dumps(item))
    return payloads


def encode_for_queue(payload: str, encoding: str) -> str:
    """Output-binding messages follow host.json `messageEncoding` (base64 by default)."""
    return base64.b64encode(payload.encode()).decode() if encoding == "base64" else payload
