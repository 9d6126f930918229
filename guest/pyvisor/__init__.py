"""pyvisor: the sandbox's side of the host interface.

    import pyvisor
    pyvisor.call("lookup", "key")       # call a host function by name
    await pyvisor.call_async("fetch", url)  # start it and await its result
    pyvisor.functions()                 # names of the host functions offered
    pyvisor.HostError                   # raised when a host function fails

Host functions are also bound as globals of each run, so `lookup("key")`
works directly. An async host function, called where an event loop is
running, returns an awaitable (`await fetch(url)`, `asyncio.gather(...)`);
called elsewhere it blocks and returns the value. Only plain data crosses:
None, bool, int, float, str, bytes, list, tuple, dict, set, datetime.
"""
import sys

from . import _aio, _channel

__all__ = ["call", "call_async", "functions", "HostError"]

_function_names = ()


class HostError(Exception):
    """A host function raised, rejected, timed out, or was refused."""


def functions():
    return list(_function_names)


def _request(message):
    """One request to the host and its answer (the guest waits for it)."""
    _channel.send("C", message)
    return _channel.receive("A")


def call(name, /, *args, **kwargs):
    """Calls the host function `name` and returns its result (synchronously)."""
    if not isinstance(name, str):
        raise TypeError("host function name must be a str")
    answer = _request({"name": name, "args": list(args), "kwargs": kwargs})
    if answer.get("ok"):
        return answer.get("value")
    raise HostError(answer.get("error") or "host function failed")


def call_async(name, /, *args, **kwargs):
    """Starts the host function `name` and returns an asyncio.Future of its
    result; the event loop runs other tasks meanwhile. Needs a running loop."""
    if not isinstance(name, str):
        raise TypeError("host function name must be a str")
    return _aio.start(name, args, kwargs)


def _running_loop():
    asyncio = sys.modules.get("asyncio")
    return asyncio is not None and asyncio._get_running_loop() is not None


def _bind(name, awaitable):
    if awaitable:
        def host_function(*args, **kwargs):
            if _running_loop():
                return call_async(name, *args, **kwargs)
            return call(name, *args, **kwargs)
    else:
        def host_function(*args, **kwargs):
            return call(name, *args, **kwargs)
    host_function.__name__ = host_function.__qualname__ = name
    kind = "Async host function" if awaitable else "Host function"
    host_function.__doc__ = "%s %r (runs outside the sandbox)." % (kind, name)
    return host_function


def _set_functions(names, async_names=()):
    global _function_names
    _function_names = tuple(names)
    awaitable = set(async_names)
    return {name: _bind(name, name in awaitable) for name in names}


_aio.install()
