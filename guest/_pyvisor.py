"""pyvisor's driver inside the sandbox: serves one run per `_serve()` call.

The controller calls the engine's `pyvisor_run` export, which calls `_serve()`.
It reads the run request from the channel, runs the code in `__main__` (so
state persists between runs of one sandbox, like a REPL), and sends back the
result: the value of the last expression, or the error with its traceback.
"""
import ast
import linecache
import os
import sys
import traceback

import pyvisor
from pyvisor import _channel, _codec

_main = sys.modules["__main__"]

# Memory set aside so that a sandbox whose memory is full can still compile
# the next run (the user may be freeing memory) and report its MemoryError:
# released when needed, taken again at the end of each run.
_reserves = {"compile": None, "error": None}
_RESERVE_BYTES = {"compile": 512 * 1024, "error": 1 << 20}


def _release_reserve(name):
    _reserves[name] = None


def _restore_reserves():
    for name, size in _RESERVE_BYTES.items():
        if _reserves[name] is None:
            try:
                _reserves[name] = bytearray(size)
            except MemoryError:
                pass


_restore_reserves()


def _own_frames(tb):
    """Drops the driver's frames so tracebacks start at the user's code."""
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    return tb


def _error(exc):
    tb = _own_frames(exc.__traceback__)
    text = "".join(traceback.format_exception(type(exc), exc, tb))
    return {"type": type(exc).__name__, "message": str(exc), "traceback": text}


def _compile(source, filename, mode):
    """Compiles `source`; in "auto" mode the last expression statement is evaluated apart for its value."""
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    if mode != "auto":
        return compile(source, filename, "exec", dont_inherit=True), None
    tree = ast.parse(source, filename, "exec")
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(tree.body.pop().value)
    body = compile(tree, filename, "exec", dont_inherit=True)
    return body, (compile(last, filename, "eval", dont_inherit=True) if last is not None else None)


def _run(request):
    kind = request.get("kind", "code")
    argv = request.get("argv") or [""]
    sys.argv = list(argv)
    path0 = request.get("path0")
    if path0 is not None and sys.path[:1] != [path0]:
        sys.path.insert(0, path0)
    if kind == "module":
        import runpy
        runpy.run_module(request["module"], run_name="__main__", alter_sys=True)
        return None
    if kind == "file":
        import runpy
        runpy.run_path(request["path"], run_name="__main__")
        return None
    body, last = _compile(request["code"], request.get("filename", "<string>"), request.get("mode", "auto"))
    namespace = _main.__dict__
    exec(body, namespace)
    return eval(last, namespace) if last is not None else None


def _exit_code(exc):
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def _refresh(request):
    """First run of an interpreter (possibly restored from a shared snapshot):
    take this sandbox's own working directory, environment and random state."""
    os.chdir(request.get("cwd") or "/home/user")
    env = request.get("env") or {}
    os.environ.clear()
    os.environ.update(env)
    random = sys.modules.get("random")
    if random is not None:
        random.seed()


# stdout and stderr are set up per run as CPython's create_stdio does for
# its own command line: stdout line-buffered to a terminal and block-buffered
# otherwise, stderr line-buffered; both unbuffered with -u or PYTHONUNBUFFERED.
# (The engine starts with unbuffered stdio; a stream the user replaced is left alone.)
_stdio_mode = None
_stdio_streams = {}


def _setup_stdio(request):
    global _stdio_mode
    stdio = request.get("stdio") or {}
    unbuffered = bool(stdio.get("unbuffered")) or bool(os.environ.get("PYTHONUNBUFFERED"))
    mode = (bool(stdio.get("terminal")), unbuffered)
    if mode == _stdio_mode:
        return
    import io
    _stdio_mode = mode
    terminal = mode[0]
    for fd, name, errors in ((1, "stdout", "surrogateescape"), (2, "stderr", "backslashreplace")):
        current = getattr(sys, name)
        if current is not _stdio_streams.get(name, getattr(sys, "__%s__" % name)):
            continue
        try:
            current.flush()
        except Exception:
            pass
        raw = io.FileIO(fd, "w", closefd=False)
        raw.name = "<%s>" % name
        stream = io.TextIOWrapper(
            raw if unbuffered else io.BufferedWriter(raw), encoding="utf-8", errors=errors, newline="\n",
            line_buffering=not unbuffered and (terminal or fd == 2), write_through=unbuffered)
        _stdio_streams[name] = stream
        setattr(sys, name, stream)
        setattr(sys, "__%s__" % name, stream)


def _serve():
    result = {"value": None, "error": None, "exitCode": 0}
    _release_reserve("compile")
    try:
        request = _channel.receive("R")
        if request.get("fresh"):
            _refresh(request)
        _setup_stdio(request)
        _main.__dict__.update(pyvisor._set_functions(request.get("functions") or ()))
        inputs = request.get("inputs")
        if inputs:
            _main.__dict__.update(_codec.decode(inputs))
        try:
            value = _run(request)
            if value is not None and request.get("wantValue", True):
                try:
                    result["value"] = value
                    _codec.encode(value)
                except _codec.CodecError as exc:
                    result["value"] = None
                    result["error"] = {"type": "ConversionError", "message": "the result " + str(exc), "traceback": ""}
        except SystemExit as exc:
            result["exitCode"] = _exit_code(exc)
        except BaseException as exc:  # the guest's own failure, reported as data
            _release_reserve("error")
            try:
                result["error"] = _error(exc)
            except MemoryError:
                result["error"] = {"type": type(exc).__name__, "message": str(exc), "traceback": ""}
            result["exitCode"] = 1
            if request.get("printErrors", True):
                sys.stderr.write(result["error"]["traceback"])
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except BaseException:
            pass
        _channel.send("D", result)
    finally:
        _channel.close()
        _restore_reserves()
    return result["exitCode"]
