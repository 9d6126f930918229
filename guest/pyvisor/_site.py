"""What `site` would have set up, as suits the sandbox (the interpreter starts
without `site`: there are no site-packages to find).

- builtins `exit`, `quit`, `help`, `copyright`, `credits`, `license`, as
  CPython's `site` makes them;
- no network: the sandbox has none, so name lookups and connections raise
  OSError(ENETUNREACH, "no network in this sandbox ...") instead of the
  AttributeError (no `getaddrinfo`) or ENOTSUP that CPython's WASI build
  gives. OSError is what networking code expects (urllib turns it into a
  URLError). `socket.gethostname()` answers as on a Linux host without
  network: the node name uname() gives (WASI's socket module lacks it, and
  uuid, logging and smtplib call it before any lookup).
"""
import builtins
import errno
import sys

import _sitebuiltins

NO_NETWORK = "no network in this sandbox"


def install_builtins():
    eof = "Ctrl-D (i.e. EOF)"
    builtins.exit = _sitebuiltins.Quitter("exit", eof)
    builtins.quit = _sitebuiltins.Quitter("quit", eof)
    builtins.help = _sitebuiltins._Helper()
    builtins.copyright = _sitebuiltins._Printer("copyright", sys.copyright)
    builtins.credits = _sitebuiltins._Printer(
        "credits", "Thanks to CWI, CNRI, BeOpen, Zope Corporation, the Python Software Foundation,\n"
        "and a cast of thousands for supporting Python development.  See www.python.org for more information.")
    builtins.license = _sitebuiltins._Printer("license", "See https://www.python.org/psf/license/")


def _refuse(what):
    def refused(*args, **kwargs):
        raise OSError(errno.ENETUNREACH, "%s (%s)" % (NO_NETWORK, what))
    refused.__name__ = refused.__qualname__ = what
    return refused


_NAME_SERVICE = ("getaddrinfo", "gethostbyname", "gethostbyname_ex", "gethostbyaddr", "getnameinfo", "getfqdn")
_CONNECT = ("create_connection", "create_server")


def _gethostname():
    import os
    return os.uname().nodename


def install_no_network():
    import socket

    if not hasattr(socket, "gethostname"):
        _gethostname.__name__ = _gethostname.__qualname__ = "gethostname"
        socket.gethostname = _gethostname
    for name in _NAME_SERVICE + _CONNECT:
        setattr(socket, name, _refuse(name))
    init = socket.socket.__init__

    def socket_init(self, *args, **kwargs):
        try:
            init(self, *args, **kwargs)
        except OSError as exc:
            if exc.errno != errno.ENOTSUP:
                raise
            raise OSError(errno.ENOTSUP, "%s (sockets are not supported)" % NO_NETWORK) from None

    socket.socket.__init__ = socket_init
