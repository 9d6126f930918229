"""The host functions of this run, as module attributes.

    from pyvisor.host import search
    search("query")

A name the host does not offer is an AttributeError (an ImportError for
`from pyvisor.host import name`), naming the functions that are offered.
"""
import pyvisor as _pyvisor


def __getattr__(name):
    try:
        return _pyvisor._bound[name]
    except KeyError:
        offered = ", ".join(sorted(_pyvisor._bound)) or "none"
        raise AttributeError("the host offers no function named %r (offered: %s)" % (name, offered), name=name, obj=None) from None


def __dir__():
    return sorted(_pyvisor._bound)
