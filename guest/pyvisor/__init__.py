"""pyvisor: the sandbox's side of the host interface.

    import pyvisor
    pyvisor.call("lookup", "key")       # call a host function by name
    pyvisor.functions()                 # names of the host functions offered
    pyvisor.HostError                   # raised when a host function fails

Host functions are also bound as globals of each run, so `lookup("key")`
works directly. Only plain data crosses: None, bool, int, float, str, bytes,
list, tuple, dict, set, datetime.
"""
from . import _channel

__all__ = ["call", "functions", "HostError"]

_function_names = ()


class HostError(Exception):
    """A host function raised, rejected, timed out, or was refused."""


def functions():
    return list(_function_names)


def call(name, /, *args, **kwargs):
    """Calls the host function `name` and returns its result (synchronously)."""
    if not isinstance(name, str):
        raise TypeError("host function name must be a str")
    _channel.send("C", {"name": name, "args": list(args), "kwargs": kwargs})
    answer = _channel.receive("A")
    if answer.get("ok"):
        return answer.get("value")
    raise HostError(answer.get("error") or "host function failed")


def _bind(name):
    def host_function(*args, **kwargs):
        return call(name, *args, **kwargs)
    host_function.__name__ = host_function.__qualname__ = name
    host_function.__doc__ = "Host function %r (runs outside the sandbox)." % name
    return host_function


def _set_functions(names):
    global _function_names
    _function_names = tuple(names)
    return {name: _bind(name) for name in names}
