"""asyncio in the sandbox, and host calls that Python can await.

The event loop: CPython's selector loop makes a self-pipe with
socket.socketpair(), which WASI cannot provide. Its only use is to wake the
loop from another thread or a signal handler, and the sandbox has neither, so
the loop installed here (a subclass of the standard one, put in place when
asyncio.unix_events is first imported) simply has no self-pipe. Everything
else is CPython's own code: timers, tasks, queues, TaskGroup, wait_for.

Its selector waits in poll_oneoff as usual (the kernel serves sleeps against
the run's clock and limits); while awaitable host calls are outstanding it
waits on the host instead, which answers as soon as one of them settles or the
loop's timeout passes.

Waits of `threading` (Condition.wait, Event.wait, queue.Queue.get,
concurrent.futures' result()) need nothing here: the engine's lock
(engine/patches/0004) sleeps out a timed wait on a held lock and fails it,
and refuses an untimed one with a RuntimeError, as no other thread exists.
"""
import math
import selectors
import sys

# A selector with nothing to wait for and no timeout waits this long per round
# (WASI's poll cannot wait on nothing forever); the run's time limit ends it first.
_IDLE_WAIT_SECONDS = 3600.0
# The host answers a wait after this long at most (MAX_WAIT_MS in src/worker/protocol.ts); the loop asks again.
_MAX_WAIT_MS = 10_000

# Awaitable host calls started and not yet delivered: host call id -> asyncio.Future.
_calls = {}


def _host_request(message):
    from . import _request
    return _request(message)


def start(name, args, kwargs):
    """Starts host function `name` and returns an asyncio.Future of its result."""
    import asyncio
    loop = asyncio.get_running_loop()
    future = loop.create_future()
    answer = _host_request({"op": "start", "name": name, "args": list(args), "kwargs": kwargs})
    if not answer.get("ok"):
        future.set_exception(_host_error(answer.get("error")))
        return future
    call_id = answer.get("id")
    _calls[call_id] = future
    future.add_done_callback(lambda f: _cancelled(call_id, f))
    return future


def _host_error(message):
    from . import HostError
    return HostError(message or "host function failed")


def _cancelled(call_id, future):
    """Python cancelled the future (task.cancel(), wait_for's timeout): tell the host to abort the call."""
    if future.cancelled() and _calls.pop(call_id, None) is not None:
        _host_request({"op": "cancel", "id": call_id})


def _live_calls():
    for call_id, future in list(_calls.items()):
        if future.done() or future.get_loop().is_closed():
            del _calls[call_id]
    return bool(_calls)


def _wait(timeout):
    """Blocks until a host call settles or `timeout` seconds pass, and delivers what settled."""
    ms = None if timeout is None else min(max(0, math.ceil(timeout * 1000)), _MAX_WAIT_MS)
    answer = _host_request({"op": "wait", "timeoutMs": ms})
    if not answer.get("ok"):
        return  # the run is stopping: its limit is raised at the next check
    for call_id, ok, value, cancelled in answer.get("done") or ():
        future = _calls.pop(call_id, None)
        if future is None or future.done():
            continue
        if ok:
            future.set_result(value)
        elif cancelled:
            future.cancel(value)
        else:
            future.set_exception(_host_error(value))
    if answer.get("pending") == 0:
        # Calls of an earlier run: the host forgot them when that run ended.
        for future in _calls.values():
            future.set_exception(_host_error("the host call was lost: it was started by an earlier run"))
        _calls.clear()


def _selector_class(base):
    class SandboxSelector(base):
        def select(self, timeout=None):
            if _live_calls():
                _wait(timeout)
                timeout = 0
            elif timeout is None and not self.get_map():
                timeout = _IDLE_WAIT_SECONDS
            return super().select(timeout)
    return SandboxSelector


def _loop_class(base, selector_class):
    class SandboxEventLoop(base):
        """The standard selector event loop without a self-pipe (no threads or signals can wake it)."""

        def __init__(self, selector=None):
            super().__init__(selector if selector is not None else selector_class())

        def _make_self_pipe(self):
            self._ssock = self._csock = None

        def _close_self_pipe(self):
            pass

        def add_signal_handler(self, sig, callback, *args):
            # As on Windows, which libraries already handle: the sandbox delivers no signals.
            raise NotImplementedError("signal handlers are not available in the sandbox (no signals are delivered)")

        def remove_signal_handler(self, sig):
            raise NotImplementedError("signal handlers are not available in the sandbox (no signals are delivered)")

        def run_in_executor(self, executor, func, *args):
            """Without threads, the default executor runs `func` at once, in the loop (serially)."""
            if executor is not None:
                return super().run_in_executor(executor, func, *args)
            self._check_closed()
            future = self.create_future()
            try:
                future.set_result(func(*args))
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                future.set_exception(exc)
            return future
    SandboxEventLoop.__qualname__ = "SandboxEventLoop"
    SandboxEventLoop._pyvisor = True
    return SandboxEventLoop


def _patch_event_loop(module):
    """Makes the sandbox loop the one asyncio creates (asyncio.run, new_event_loop, SelectorEventLoop)."""
    loop_class = _loop_class(module._UnixSelectorEventLoop, _selector_class(selectors.DefaultSelector))
    module.SelectorEventLoop = loop_class
    if hasattr(module, "EventLoop"):
        module.EventLoop = loop_class
    module._UnixDefaultEventLoopPolicy._loop_factory = loop_class


# Modules patched as they are imported (also after a re-import): name -> patch.
_PATCHES = {"asyncio.unix_events": _patch_event_loop}


class _PatchingLoader:
    def __init__(self, loader, patch):
        self._loader = loader
        self._patch = patch

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        self._patch(module)

    def __getattr__(self, name):  # get_source and the rest, for tracebacks
        return getattr(self._loader, name)


class _Finder:
    """Patches the modules of _PATCHES as they are imported."""

    @classmethod
    def find_spec(cls, name, path=None, target=None):
        patch = _PATCHES.get(name)
        if patch is None:
            return None
        for finder in sys.meta_path:
            if finder is cls or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = _PatchingLoader(spec.loader, patch)
                return spec
        return None


def install():
    if _Finder not in sys.meta_path:
        sys.meta_path.insert(0, _Finder)
    events = sys.modules.get("asyncio.unix_events")
    if events is not None and not getattr(events.SelectorEventLoop, "_pyvisor", False):
        _patch_event_loop(events)
