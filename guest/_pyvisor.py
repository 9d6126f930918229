"""pyvisor's driver inside the sandbox: serves one run per `_serve()` call.

The controller calls the engine's `pyvisor_run` export, which calls `_serve()`.
It reads the run request from the channel, runs the code in `__main__` (so
state persists between runs of one sandbox, like a REPL), and sends back the
result: the value of the last expression, or the error with its traceback.

The program shares this interpreter, so it can reach everything here. What
the driver does about it:
- its channel is an fd outside the program's fd table (pyvisor._channel);
- it uses builtins and functions bound at start-up (pyvisor._BUILTINS), so
  replacing `builtins.len` or `os.write` does not change what it sends;
- at the start of every run it puts back what a program may have broken in
  an earlier one: stdio, its own modules and their names in sys.modules, the
  modules loaded at start-up, the builtins;
- `_serve` never raises: if a program broke the driver all the same, it
  returns -1 without a result, and the controller reports a DriverError and
  restarts the interpreter, so the next run works.
Tracebacks show the program's frames only, never the driver's.
"""
import pyvisor

__builtins__ = pyvisor._BUILTINS

import ast
import builtins
import io
import linecache
import os
import runpy
import sys
import traceback
from types import FunctionType as _FunctionType

from pyvisor import _channel, _codec, _site

_main = sys.modules["__main__"]
_send = _channel.send
_receive = _channel.receive
_encode = _codec.encode
_decode = _codec.decode

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

# ---------------------------------------------------------------- tracebacks

_DRIVER_DIR = os.path.dirname(pyvisor.__file__) + os.sep
_RUNPY_FILES = {"<frozen runpy>", getattr(runpy, "__file__", "<frozen runpy>")}


def _is_driver(frame):
    return frame.filename == __file__ or frame.filename.startswith(_DRIVER_DIR)


def _cut(te, seen, runpy_frames):
    """Drops the driver's frames from `te` and its chained exceptions, and
    runpy's ahead of the program's unless `runpy_frames` (python -m shows them, python FILE does not)."""
    if te is None or id(te) in seen:
        return
    seen.add(id(te))
    frames = [frame for frame in te.stack if not _is_driver(frame)]
    while not runpy_frames and frames and frames[0].filename in _RUNPY_FILES:
        del frames[0]
    te.stack = traceback.StackSummary.from_list(frames)
    _cut(te.__cause__, seen, runpy_frames)
    _cut(te.__context__, seen, runpy_frames)
    for inner in te.exceptions or ():
        _cut(inner, seen, runpy_frames)


def _format_exception(exc, kind="code"):
    te = traceback.TracebackException(type(exc), exc, exc.__traceback__, compact=True)
    _cut(te, set(), kind == "module")
    return "".join(te.format())


def _excepthook(exc_type, exc, tb):
    """sys.excepthook: python's report of an uncaught exception, without the
    driver's frames (the code module's interpreters, e.g. a console, use it)."""
    te = traceback.TracebackException(exc_type, exc, tb, compact=True)
    _cut(te, set(), True)
    sys.stderr.write("".join(te.format()))


def _safe_str(value):
    try:
        return str(value)
    except Exception:
        return "<str() failed>"


def _error(exc, kind="code"):
    try:
        text = _format_exception(exc, kind)
    except Exception:  # e.g. the program broke what formatting needs: its last line still says what happened
        text = "%s: %s\n" % (type(exc).__name__, _safe_str(exc))
    return {"type": type(exc).__name__, "message": _safe_str(exc), "traceback": text}


def _warm_up():
    """Imports what formatting a traceback imports lazily (linecache's tokenize,
    suggestions), while the file system is surely there: a program may close
    it or break imports before its traceback is formatted."""
    try:
        _a_name_that_is_not_defined  # noqa: F821
    except NameError as exc:
        _format_exception(exc)


# ---------------------------------------------------------------- state a run may break

_stdio_config = [
    (name, stream.fileno(), stream.encoding, stream.errors, stream.line_buffering, stream.write_through, stream.mode, stream.name)
    for name, stream in (("stdin", sys.stdin), ("stdout", sys.stdout), ("stderr", sys.stderr))
]
_stdio = {"stdin": sys.stdin, "stdout": sys.stdout, "stderr": sys.stderr}


def _open_stdio(fd, encoding, errors, line_buffering, write_through, mode, name):
    raw = io.FileIO(fd, mode[0], closefd=False)
    raw.name = name
    buffer = io.BufferedReader(raw) if fd == 0 else raw
    stream = io.TextIOWrapper(buffer, encoding=encoding, errors=errors, line_buffering=line_buffering, write_through=write_through)
    stream.mode = mode
    return stream


def _restore_stdio():
    """sys.stdin/stdout/stderr are the run's own again (a closed one is opened anew), as are their __xxx__ twins."""
    for name, fd, *config in _stdio_config:
        stream = _stdio[name]
        if stream.closed:
            stream = _stdio[name] = _open_stdio(fd, *config)
        setattr(sys, name, stream)
        setattr(sys, "__%s__" % name, stream)


def _restore_names(namespace, saved):
    """Puts back the saved names a run deleted or rebound; names it added stay."""
    for name, value in saved.items():
        if namespace.get(name, _restore_names) is not value:
            namespace[name] = value


_warm_up()
sys.excepthook = _excepthook
_site.install_builtins()
_site.install_no_network()
_builtins_dict = vars(builtins)
_saved_builtins = dict(_builtins_dict)
_saved_modules = dict(sys.modules)  # every module loaded at start-up, the driver's among them
_DRIVER_MODULES = ("_pyvisor", "pyvisor", "pyvisor._channel", "pyvisor._codec", "pyvisor.host", "pyvisor._site", "pyvisor._aio")


def _snapshot_driver():
    """The driver modules' names, and the code and defaults of their functions, as `_repair_driver` puts them back."""
    modules = [(sys.modules[name], dict(vars(sys.modules[name]))) for name in _DRIVER_MODULES]
    functions = [
        (value, value.__code__, value.__defaults__, value.__kwdefaults__)
        for module, names in modules for value in names.values()
        if isinstance(value, _FunctionType) and value.__module__ == module.__name__
    ]
    return modules, functions


def _repair_driver(saved):
    """Undoes what a program did to the driver's modules and functions (called before and after its code)."""
    modules, functions = saved
    for module, names in modules:
        _restore_names(vars(module), names)
        sys.modules[module.__name__] = module
    for function, code, defaults, kwdefaults in functions:
        if function.__code__ is not code:
            function.__code__ = code
        if function.__defaults__ is not defaults:
            function.__defaults__ = defaults
        if function.__kwdefaults__ is not kwdefaults:
            function.__kwdefaults__ = kwdefaults


def _restore_shared():
    """Builtins and the start-up modules in sys.modules, as the driver left them."""
    _restore_names(_builtins_dict, _saved_builtins)
    modules = sys.modules
    for name, module in _saved_modules.items():
        if name == "__main__" or name not in modules:
            modules[name] = module


def _restore_state():
    """What a program may have broken in an earlier run, put back: builtins, sys.modules, stdio."""
    _restore_shared()
    _restore_stdio()


# ---------------------------------------------------------------- a run

_path0 = [None]  # the entry this driver put first on sys.path


def _set_path0(entry):
    """`entry` first on sys.path, as CPython does for -c (''), a script (its directory) or -m (the cwd)."""
    path = sys.path
    if _path0[0] is not None and path[:1] == [_path0[0]]:
        path[0] = entry
    elif path[:1] != [entry]:
        path.insert(0, entry)
    _path0[0] = entry


def _default_path0(request):
    kind = request.get("kind", "code")
    if kind == "file":
        return os.path.dirname(os.path.abspath(request["path"]))
    if kind == "module":
        return os.getcwd()
    return ""


def _compile(source, filename, mode):
    """Compiles `source`; in "auto" mode the last expression statement is evaluated apart for its value."""
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    if mode != "auto":
        return compile(source, filename, "exec", dont_inherit=True), None
    tree = compile(source, filename, "exec", ast.PyCF_ONLY_AST, dont_inherit=True)
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
    _set_path0(_default_path0(request) if path0 is None else path0)
    if kind == "module":
        runpy.run_module(request["module"], run_name="__main__", alter_sys=True)
        return None
    if kind == "file":
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
    try:
        print(code, file=sys.stderr)
    except Exception:
        pass
    return 1


def _refresh(request):
    """First run of an interpreter (possibly restored from a shared snapshot):
    take this sandbox's own working directory, environment and random state."""
    os.chdir(request.get("cwd") or "/home/user")
    env = request.get("env") or {}
    os.environ.clear()
    os.environ.update(env)
    _reseed()
    # The sandbox's packages (one merged read-only directory), after the
    # stdlib as site.py would put site-packages; the interpreter runs with -S.
    site_packages = request.get("sitePackages")
    if site_packages and site_packages not in sys.path:
        sys.path.append(site_packages)


_setup_rngs = []  # weak references to the random.Random instances a template's setup made (_prepare_template)


def _reseed():
    """State seeded from os.urandom at import or by a setup is the sandbox's own
    again: the `random` module's generator, the Random instances a template's
    setup left, and tempfile's name sequence (its pid check cannot tell two
    sandboxes apart). secrets, uuid4 and os.urandom read the kernel each call."""
    random = sys.modules.get("random")
    if random is not None:
        random.seed()
    for ref in _setup_rngs:
        rng = ref()
        if rng is not None:
            rng.seed()
    tempfile = sys.modules.get("tempfile")
    if tempfile is not None:
        tempfile._name_sequence = None


def _prepare_template():
    """After a template's setup: the garbage goes (less memory to snapshot) and
    the Random instances it made are noted, to be reseeded in each sandbox."""
    import gc
    import weakref
    gc.collect()
    random = sys.modules.get("random")
    if random is None:
        return
    del _setup_rngs[:]
    for obj in gc.get_objects():
        if isinstance(obj, random.Random) and obj is not getattr(random, "_inst", None):
            _setup_rngs.append(weakref.ref(obj))


# stdout and stderr are set up per run as CPython's create_stdio does for
# its own command line: stdout line-buffered to a terminal and block-buffered
# otherwise, stderr line-buffered; both unbuffered with -u or PYTHONUNBUFFERED.
# (The engine starts with unbuffered stdio.) The streams made here are the
# run's own (_stdio), which _restore_stdio puts back at the start of each run.
_stdio_mode = None
_stdio_streams = {}


def _setup_stdio(request):
    global _stdio_mode
    stdio = request.get("stdio") or {}
    unbuffered = bool(stdio.get("unbuffered")) or bool(os.environ.get("PYTHONUNBUFFERED"))
    mode = (bool(stdio.get("terminal")), unbuffered)
    if mode == _stdio_mode and all(_stdio[name] is _stdio_streams.get(name) for name in ("stdout", "stderr")):
        return
    _stdio_mode = mode
    terminal = mode[0]
    for fd, name, errors in ((1, "stdout", "surrogateescape"), (2, "stderr", "backslashreplace")):
        try:
            _stdio[name].flush()
        except Exception:
            pass
        raw = io.FileIO(fd, "w", closefd=False)
        raw.name = "<%s>" % name
        stream = io.TextIOWrapper(
            raw if unbuffered else io.BufferedWriter(raw), encoding="utf-8", errors=errors, newline="\n",
            line_buffering=not unbuffered and (terminal or fd == 2), write_through=unbuffered)
        _stdio_streams[name] = _stdio[name] = stream
        setattr(sys, name, stream)
        setattr(sys, "__%s__" % name, stream)


_bound_globals = {}  # name -> the host function this driver last bound as a global


def _bind_functions(names, async_names, as_globals):
    """Host functions for pyvisor.host and, when asked, as globals of __main__
    (except where the program bound the name itself)."""
    namespace = _main.__dict__
    for name, function in pyvisor._set_functions(names, async_names).items():
        if as_globals and (name not in namespace or namespace[name] is _bound_globals.get(name)):
            namespace[name] = _bound_globals[name] = function


_MAX_REPR_CHARS = 4 * 1024 * 1024


class _ReprFull(Exception):
    """The repr being built passed _MAX_REPR_CHARS: the rest is not needed."""


# The built-in containers' repr() is one C call over every item (a stop cannot
# reach it, and a list of big ints can take minutes): their items are walked
# here, in Python, up to the size kept. (opening, closing, empty, recursive)
_REPR_SHAPES = {
    list: ("[", "]", "[]", "[...]"),
    tuple: ("(", ")", "()", "(...)"),
    dict: ("{", "}", "{}", "{...}"),
    set: ("{", "}", "set()", "set(...)"),
    frozenset: ("frozenset({", "})", "frozenset()", "frozenset(...)"),
}


def _walk_repr(value, parts, open_ids, size):
    """Appends repr(value) to `parts` piece by piece; returns the new total size."""
    shape = _REPR_SHAPES.get(type(value))
    if shape is None:
        parts.append(repr(value))
        size += len(parts[-1])
    elif not value:
        parts.append(shape[2])
        size += len(shape[2])
    elif id(value) in open_ids:
        parts.append(shape[3])
        size += len(shape[3])
    else:
        open_ids.add(id(value))
        parts.append(shape[0])
        items = list(dict.items(value)) if type(value) is dict else list(value)
        for index, item in enumerate(items):
            if index:
                parts.append(", ")
            if type(value) is dict:
                size = _walk_repr(item[0], parts, open_ids, size + 2)
                parts.append(": ")
                item = item[1]
            size = _walk_repr(item, parts, open_ids, size + 2)
        if type(value) is tuple and len(items) == 1:
            parts.append(",")
        parts.append(shape[1])
        size += 2 + len(shape[0])
        open_ids.discard(id(value))
    if size > _MAX_REPR_CHARS:
        raise _ReprFull
    return size


def _value_repr(value):
    """repr(value), cut at _MAX_REPR_CHARS. Ints are written under Python's
    default digit limit whatever the program set (sys.set_int_max_str_digits):
    decimal conversion is quadratic, one C call a stop cannot reach."""
    digits = sys.get_int_max_str_digits()
    parts = []
    try:
        default = sys.int_info.default_max_str_digits
        sys.set_int_max_str_digits(default if digits == 0 else min(digits, default))
        _walk_repr(value, parts, set(), 0)
        text = "".join(parts)
    except _ReprFull:
        text = "".join(parts)
    except Exception as exc:
        text = "<%s object; repr() failed: %s>" % (type(value).__name__, _safe_str(exc))
    finally:
        sys.set_int_max_str_digits(digits)
    return text if len(text) <= _MAX_REPR_CHARS else text[:_MAX_REPR_CHARS] + "..."


_display = None


def _display_repr(value):
    """A notebook's view of the value: repr() with containers, strings and ints cut (reprlib), so its cost is bounded."""
    global _display
    if _display is None:
        import reprlib
        _display = reprlib.Repr(maxlevel=6, maxtuple=1000, maxlist=1000, maxarray=1000, maxdict=1000, maxset=1000,
                                maxfrozenset=1000, maxdeque=1000, maxstring=100000, maxlong=100000, maxother=100000)
    digits = sys.get_int_max_str_digits()
    try:
        # As in _value_repr: ints are written under the default digit limit, whatever the program set.
        default = sys.int_info.default_max_str_digits
        sys.set_int_max_str_digits(default if digits == 0 else min(digits, default))
        return _display.repr(value)
    except Exception:
        return _value_repr(value)[:100000]
    finally:
        sys.set_int_max_str_digits(digits)


def _set_value(result, value):
    """The value as data when the codec can carry it, else its repr (flagged valueRepr); a display repr either way."""
    result["repr"] = _display_repr(value)
    try:
        _encode(value)
        result["value"] = value
    except Exception:
        result["value"] = _value_repr(value)
        result["valueRepr"] = True


def _unbind_inputs(bound):
    """Inputs are the run's own: each name still bound to its input goes (a name the program rebound stays)."""
    try:
        names = _main.__dict__
        for name, value in bound:
            if names.get(name, _unbind_inputs) is value:
                del names[name]
    except Exception:
        pass


def _send_result(result):
    """Sends the result. One the sandbox cannot encode in the memory it has left
    (a value just under the codec's size limit) goes without its value, as the
    ConversionError the host reports for a value too costly to convert, rather
    than leaving the run without a result."""
    try:
        _send("D", result)
    except Exception as exc:  # MemoryError, or a stop raised while encoding
        result["value"] = None
        result["valueRepr"] = False
        result["error"] = {"type": "ConversionError", "traceback": "",
                           "message": "the result is too costly to convert (%s in the sandbox)" % type(exc).__name__}
        _send("D", result)


def _serve_run(repair):
    result = {"value": None, "valueRepr": False, "repr": None, "error": None, "exitCode": 0}
    bound = ()
    _release_reserve("compile")
    try:
        request = _receive("R")
        _restore_state()
        if request.get("fresh"):
            _refresh(request)
        _setup_stdio(request)
        _bind_functions(request.get("functions") or (), request.get("asyncFunctions") or (), request.get("hostGlobals") is True)
        inputs = request.get("inputs")
        if inputs:
            values = _decode(inputs)
            bound = tuple(values.items())
            _main.__dict__.update(values)
        try:
            value = _run(request)
            repair()
            if value is not None and request.get("wantValue", True):
                _set_value(result, value)
        except SystemExit as exc:
            repair()
            result["exitCode"] = _exit_code(exc)
        except BaseException as exc:  # the guest's own failure, reported as data
            repair()
            _release_reserve("error")
            try:
                result["error"] = _error(exc, request.get("kind", "code"))
            except MemoryError:
                result["error"] = {"type": type(exc).__name__, "message": _safe_str(exc), "traceback": ""}
            result["exitCode"] = 1
            if request.get("printErrors", True):
                try:
                    sys.stderr.write(result["error"]["traceback"])
                except BaseException:
                    pass
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except BaseException:
            pass
        _unbind_inputs(bound)
        if request.get("prepareTemplate") and result["error"] is None and result["exitCode"] == 0:
            try:
                _prepare_template()
            except Exception:  # a setup that broke gc or random: its sandboxes reseed what is still reachable
                pass
        _send_result(result)
    finally:
        _restore_reserves()
    return result["exitCode"]


_saved_driver = []  # filled below, once _serve exists (it is saved too)


def _serve(_repair_driver=_repair_driver, _saved=_saved_driver, _serve_run=_serve_run, _restore_shared=_restore_shared):
    """Serves one run; returns its exit status, or -1 (and no result) when the program broke the driver.

    What it calls is bound here (defaults), and repaired before and after the
    program's code, so that a program that rebinds or rewrites the driver's
    functions gets its result all the same, and the next run a whole driver.
    """
    try:
        repair = lambda: _repair_driver(_saved[0])  # noqa: E731
        repair()
        # After the program's code, builtins and sys.modules are the driver's again at once (as at
        # the next run's start): the conversion of its value and its report must not depend on them.
        return _serve_run(lambda: (repair(), _restore_shared()))
    except BaseException:
        return -1


_saved_driver.append(_snapshot_driver())
