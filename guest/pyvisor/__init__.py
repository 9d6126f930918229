"""pyvisor: the sandbox's side of the host interface.

    from pyvisor.host import lookup     # a host function, as a module attribute
    import pyvisor
    pyvisor.call("lookup", "key")       # call a host function by name
    await pyvisor.call_async("fetch", url)  # start it and await its result
    pyvisor.functions()                 # names of the host functions offered
    pyvisor.HostError                   # raised when a host function fails

Host functions are also bound as globals of `__main__` (unless the name is
already the program's own), so `lookup("key")` works directly. An async host
function, called where an event loop is running, returns an awaitable
(`await fetch(url)`, `asyncio.gather(...)`); called elsewhere it blocks and
returns the value. Only plain data crosses: None, bool, int, float, str,
bytes, list, tuple, dict, set, datetime.
"""
import builtins as _builtins
import sys as _sys
from importlib import util as _util

# The driver's modules (this package and _pyvisor) look builtins up in a copy
# taken at start-up: a program that replaces `builtins.len` breaks its own
# code, not the delivery of its result. (A function looks builtins up in its
# module's `__builtins__`, read when the function is created.)
_BUILTINS = dict(vars(_builtins))
__builtins__ = _BUILTINS


def _load(name):
    """Imports the driver module `name` with the private builtins."""
    spec = _util.find_spec(name)
    module = _util.module_from_spec(spec)
    module.__builtins__ = _BUILTINS  # exec adds the shared builtins only when none are set
    _sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


_codec = _load("pyvisor._codec")
_channel = _load("pyvisor._channel")
host = _load("pyvisor.host")
_aio = _load("pyvisor._aio")

__all__ = ["call", "call_async", "functions", "HostError", "host"]

_function_names = ()
_bound = {}  # name -> function calling it, for this run (pyvisor.host)
_send = _channel.send
_receive = _channel.receive


class HostError(Exception):
    """A host function raised, rejected, timed out, or was refused."""


def functions():
    return list(_function_names)


def _request(message):
    """One request to the host and its answer (the guest waits for it)."""
    _send("C", message)
    return _receive("A")


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
    asyncio = _sys.modules.get("asyncio")
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
    """The host functions of this run, by name (also what `pyvisor.host` offers)."""
    global _function_names, _bound
    _function_names = tuple(names)
    awaitable = set(async_names)
    _bound = {name: _bind(name, name in awaitable) for name in names}
    return _bound


_aio.install()
