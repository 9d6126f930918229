// Introspection escapes: the guest walks its own interpreter (gc, frames,
// tracebacks, generators, __subclasses__, code objects, marshal, the driver's
// modules) looking for a way to the host. Everything it finds is part of its
// own interpreter; the worst it can do is break its own sandbox, and then the
// host still gets a typed result and the next run (or the next sandbox) works.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ErrorType } from "../../src/api/index.js";
import { assertGuestHealthy, assertSandboxHealthy, attackSandbox, leakedHostPaths, sharedGuest, sharedPool } from "./helpers.js";

const guest = sharedGuest();
const pool = sharedPool(1, "thread");

/** Error types a hostile run may end with: a Python exception of its own or a pyvisor code, never a rejection. */
function assertTyped(result: { error: { type: string } | null }): void {
  if (result.error !== null) assert.match(result.error.type, /^[A-Z][A-Za-z]*(Error|Exception|Exit)$/, JSON.stringify(result.error));
}

test("every object gc can reach belongs to the guest's own interpreter (no type from outside the stdlib image)", () => {
  const foreign = guest().value(`
import gc, sys
bad = set()
for o in gc.get_objects():
    t = type(o)
    m = sys.modules.get(getattr(t, '__module__', '') or '')
    f = getattr(m, '__file__', None) or ''
    if f and not f.startswith('/usr/local/lib/python3.13/'):
        bad.add((t.__name__, f))
sorted(bad)`);
  assert.deepEqual(foreign, []);
});

test("gc.get_referrers walking up from a global reaches only objects of the guest's own interpreter", () => {
  const foreign = guest().value(`
import gc
marker = ['marker']
seen, todo, bad = set(), [marker], set()
while todo and len(seen) < 2000:
    o = todo.pop()
    if id(o) in seen: continue
    seen.add(id(o))
    m = sys.modules.get(getattr(type(o), '__module__', '') or '')
    f = getattr(m, '__file__', None) or ''
    if f and not f.startswith('/usr/local/lib/python3.13/'): bad.add(f)
    todo.extend(r for r in gc.get_referrers(o) if r is not todo and r is not seen)
del marker, seen, todo
sorted(bad)`);
  assert.deepEqual(foreign, []);
});

test("gc finds the driver's channel module; sending a forged 'done' frame through it ends only the guest's own run", async () => {
  await using sb = await attackSandbox(pool());
  const result = await sb.run(`
import gc, types
ch = next(o for o in gc.get_objects() if isinstance(o, types.ModuleType) and o.__name__ == 'pyvisor._channel')
ch.send('D', {'value': 'forged', 'error': None, 'exitCode': 0})
'real'`);
  assertTyped(result);
  await assertSandboxHealthy(sb);
});

test("sys._getframe walked to the outermost frame ends in the driver, in the stdlib image, with no host path", () => {
  const chain = guest().value(`
f = sys._getframe()
names = []
while f is not None:
    names.append(f.f_code.co_filename)
    f = f.f_back
names`) as string[];
  assert.equal(chain.at(-1), "/usr/local/lib/python3.13/_pyvisor.py");
  assert.deepEqual(leakedHostPaths(chain.join("\n")), []);
});

test("rewriting the driver's result through frame.f_locals ends with a typed result and a healthy sandbox", async () => {
  await using sb = await attackSandbox(pool());
  const result = await sb.run(`
f = sys._getframe()
while f.f_code.co_name != '_serve_run': f = f.f_back
f.f_locals['result']['value'] = object
'kept'`);
  assertTyped(result);
  await assertSandboxHealthy(sb);
});

const forgeries: Array<[string, string]> = [
  ["an exitCode that is a string", "r['exitCode'] = 'not a number'"],
  ["an exitCode out of range", "r['exitCode'] = 100000"],
  ["an error that is a number", "r['error'] = 5"],
  ["an error whose type is not a string", "r['error'] = {'type': 123, 'message': 'm', 'traceback': ''}"],
];
for (const [what, edit] of forgeries) {
  test(`a result forged through the driver's frame with ${what} is a ProtocolError, never an ill-typed result`, async () => {
    await using sb = await attackSandbox(pool());
    const result = await sb.run(`
f = sys._getframe()
while f.f_code.co_name != '_serve_run': f = f.f_back
r = f.f_locals['result']
${edit}
'kept'`);
    assert.equal(result.error?.type, ErrorType.Protocol, JSON.stringify(result));
    assert.equal(typeof result.exitCode, "number");
    await assertSandboxHealthy(sb);
  });
}

test("extra keys forged into the result's error do not reach the host's result", async () => {
  await using sb = await attackSandbox(pool());
  const result = await sb.run(`
f = sys._getframe()
while f.f_code.co_name != '_serve_run': f = f.f_back
f.f_locals['result']['error'] = {'type': 'ValueError', 'message': 'm', 'traceback': '', 'extra': 'x' * 1000}
'kept'`);
  assert.deepEqual(Object.keys(result.error ?? {}).sort(), ["message", "traceback", "type"]);
});

test("a traceback's tb_frame.f_back leads only to the driver's frames", () => {
  const files = guest().value(`
try:
    1 / 0
except ZeroDivisionError as e:
    f = e.__traceback__.tb_frame
files = []
while f is not None:
    files.append(f.f_code.co_filename)
    f = f.f_back
files`) as string[];
  assert.ok(files.every((file) => file === "<string>" || file.startsWith("/usr/local/lib/python3.13/")), files.join(", "));
});

test("a running generator's gi_frame.f_back chain stays inside the interpreter", () => {
  const files = guest().value(`
def gen():
    f = g.gi_frame
    out = []
    while f is not None:
        out.append(f.f_code.co_filename)
        f = f.f_back
    yield out
g = gen()
next(g)`) as string[];
  assert.ok(files.length >= 2);
  assert.deepEqual(leakedHostPaths(files.join("\n")), []);
});

test("clearing the driver's frame from a generator's f_back does not break the host", async () => {
  await using sb = await attackSandbox(pool());
  const result = await sb.run(`
def gen():
    f = sys._getframe().f_back
    while f.f_back is not None: f = f.f_back
    yield tries(f.clear)
next(gen())`);
  assertTyped(result);
  await assertSandboxHealthy(sb);
});

test("process functions found through object.__subclasses__() cannot start a process", () => {
  const outcomes = guest().value(`
import os, posix, subprocess
found = {}
todo = list(object.__subclasses__())
while todo:
    cls = todo.pop()
    try: todo.extend(cls.__subclasses__())
    except TypeError: pass
    mod = sys.modules.get(getattr(cls, '__module__', None) or '')
    for name in ('system', 'fork', 'forkpty', 'execv', 'execve', 'spawnv', 'posix_spawn', 'popen', 'kill', 'Popen'):
        fn = getattr(mod, name, None)
        if callable(fn): found[mod.__name__ + '.' + name] = fn
out = {}
for name, fn in found.items():
    if name.endswith('.kill'): out[name] = tries(fn, 1, 9)
    elif name.endswith(('.execv', '.execve', '.spawnv', '.posix_spawn')): out[name] = tries(fn, '/bin/sh', ['sh'], *([{}] if 'e' in name[-2:] or 'spawn' in name else []))
    elif name.endswith('.Popen'): out[name] = tries(fn, ['/bin/sh', '-c', 'true'])
    elif name.endswith(('.fork', '.forkpty')): out[name] = tries(fn)
    else: out[name] = tries(fn, 'true')
out`) as Record<string, unknown>;
  assert.ok(Object.keys(outcomes).length > 0, "the hunt found the popen/subprocess wrappers");
  for (const [name, outcome] of Object.entries(outcomes)) assert.equal(typeof outcome, "string", `${name} returned ${JSON.stringify(outcome)}`);
});

test("os.system does not exist", () => {
  assert.equal(guest().value("import os\nhasattr(os, 'system')"), false);
});

test("os.fork and os.forkpty do not exist", () => {
  assert.deepEqual(guest().value("[hasattr(os, 'fork'), hasattr(os, 'forkpty')]"), [false, false]);
});

test("posix.execv and posix.execve do not exist", () => {
  assert.deepEqual(guest().value("import posix\n[hasattr(posix, 'execv'), hasattr(posix, 'execve')]"), [false, false]);
});

test("os.popen fails without running anything", () => {
  assert.equal(guest().value("tries(lambda: os.popen('echo pwned').read())"), "OSError");
});

test("subprocess.run fails with OSError", () => {
  assert.equal(guest().value("import subprocess\ntries(subprocess.run, ['/bin/sh', '-c', 'echo pwned'])"), "OSError");
});

test("_posixsubprocess cannot be imported", () => {
  assert.equal(guest().value("tries(__import__, '_posixsubprocess')"), "ModuleNotFoundError");
});

test("ctypes and _ctypes cannot be imported", () => {
  assert.deepEqual(guest().value("[tries(__import__, 'ctypes'), tries(__import__, '_ctypes')]"), ["ModuleNotFoundError", "ModuleNotFoundError"]);
});

test("mmap, resource, fcntl, pwd and termios cannot be imported", () => {
  assert.deepEqual(guest().value("[tries(__import__, m) for m in ('mmap', 'resource', 'fcntl', 'pwd', 'termios')]"), Array(5).fill("ModuleNotFoundError"));
});

test("os.kill does not exist, so no host process can be signalled", () => {
  assert.equal(guest().value("hasattr(os, 'kill')"), false);
});

test("signal.signal installs a handler that only the guest's own interpreter sees", () => {
  assert.equal(guest().value("import signal\nold = signal.signal(signal.SIGINT, lambda *a: None)\nsignal.signal(signal.SIGINT, old)\n'ok'"), "ok");
  assertGuestHealthy(guest());
});

test("signal.raise_signal(SIGTERM) kills only the guest's interpreter: EngineTrapError, then a fresh one", async () => {
  await using sb = await attackSandbox(pool());
  const result = await sb.run("import signal\nsignal.raise_signal(signal.SIGTERM)");
  assert.equal(result.error?.type, ErrorType.Trap);
  const next = await sb.run("sum(range(10))");
  assert.equal(next.value, 45);
});

test("starting a thread fails with RuntimeError instead of escaping the time limit", () => {
  assert.equal(guest().value("import threading\ntries(threading.Thread(target=lambda: None).start)"), "RuntimeError");
});

test("a code object with unknown opcodes raises SystemError in the guest", () => {
  const result = guest().run("import types\ndef f(): return 1\ntypes.FunctionType(f.__code__.replace(co_code=b'\\xff\\xff' * 40), {})()");
  assert.equal(result.error?.type, "SystemError");
  assertGuestHealthy(guest());
});

test("a code object reading past co_consts ends with a typed result and the next run works", async () => {
  await using sb = await attackSandbox(pool());
  const result = await sb.run("def f(): return 1\nf.__code__ = f.__code__.replace(co_code=bytes([100, 200, 83, 0]), co_consts=())\nf()");
  assertTyped(result);
  await assertSandboxHealthy(sb);
});

test("random bytecode in code objects never takes the host down (60 seeded code objects)", async () => {
  await using sb = await attackSandbox(pool());
  for (let seed = 0; seed < 60; seed++) {
    const result = await sb.run(`
import random, types
r = random.Random(${seed})
def f(a, b): return a + b
code = f.__code__.replace(co_code=bytes(r.randrange(256) for _ in range(2 * r.randrange(1, 30))), co_stacksize=r.randrange(0, 40))
types.FunctionType(code, {})(1, 2)`, { timeout: 5_000 });
    assertTyped(result);
  }
  const after = await sb.run("sum(range(10))");
  assert.equal(after.value, 45);
});

test("a huge recursion limit then unbounded recursion ends in a typed error and the next run works", async () => {
  await using sb = await attackSandbox(pool());
  const result = await sb.run("sys.setrecursionlimit(10**8)\ndef f(n): return f(n + 1)\nf(0)", { timeout: 5_000 });
  assert.notEqual(result.error, null);
  assertTyped(result);
  await assertSandboxHealthy(sb);
});

test("marshal.loads of random garbage raises only Python exceptions", () => {
  const kinds = guest().value(`
import marshal, random
r = random.Random(7)
kinds = set()
for i in range(3000):
    try: marshal.loads(bytes(r.randrange(256) for _ in range(r.randrange(1, 48))))
    except Exception as e: kinds.add(type(e).__name__)
sorted(kinds)`) as string[];
  assert.ok(kinds.length > 0);
  assertGuestHealthy(guest());
});

test("marshal.loads of a truncated code object raises EOFError or ValueError", () => {
  const kind = guest().value("import marshal\ndata = marshal.dumps(compile('x = 1', 's', 'exec'))\nsorted({tries(marshal.loads, data[:n]) for n in range(1, len(data) - 1)} - {None})") as string[];
  assert.ok(kind.length > 0 && kind.every((k) => typeof k === "string"), JSON.stringify(kind));
});

test("calling the driver's _serve() from inside a run serves nothing the host did not ask for", async () => {
  await using sb = await attackSandbox(pool());
  const result = await sb.run("import _pyvisor\n_pyvisor._serve()");
  assertTyped(result);
  await assertSandboxHealthy(sb);
});

test("reading the channel for a request that never comes fails at once instead of hanging the run", async () => {
  await using sb = await attackSandbox(pool());
  const result = await sb.run("from pyvisor import _channel\n_channel.receive('R')", { timeout: 20_000 });
  assert.equal(result.error?.type, "ConnectionError");
  assert.ok(result.stats.wallMs < 10_000);
});

test("the guest codec decoding garbage raises only Python exceptions", () => {
  const kinds = guest().value(`
from pyvisor import _codec
import random
r = random.Random(3)
kinds = set()
for i in range(3000):
    try: _codec.decode(bytes(r.randrange(256) for _ in range(r.randrange(1, 40))))
    except Exception as e: kinds.add(type(e).__name__)
sorted(kinds)`) as string[];
  assert.ok(kinds.length > 0);
  assertGuestHealthy(guest());
});

test("the driver's internals called with bad data raise in the guest only", () => {
  const outcomes = guest().value(`
import _pyvisor, pyvisor
[tries(_pyvisor._set_value, None, 1), tries(_pyvisor._run, {'kind': 'file', 'path': 42}), tries(_pyvisor._compile, 1, 2, 3),
 tries(_pyvisor._exit_code, None), tries(pyvisor.call, 42)]`) as unknown[];
  assert.ok(outcomes.every((o) => typeof o === "string"), JSON.stringify(outcomes));
  assertGuestHealthy(guest());
});

test("binding host-function names of the guest's choosing creates only guest globals", () => {
  assert.deepEqual(guest().value("import pyvisor\nb = pyvisor._set_functions(['__import__', 'process', 'constructor'])\nsorted(b)"), ["__import__", "constructor", "process"]);
  assertGuestHealthy(guest());
});

test("replacing sys.modules['_pyvisor'] does not stop the host from serving the next run", async () => {
  await using sb = await attackSandbox(pool());
  await sb.run("sys.modules['_pyvisor'] = None\nsys.modules['pyvisor'] = None");
  await assertSandboxHealthy(sb);
});

test("replacing builtins.__import__ breaks the guest's imports, not the host", async () => {
  await using sb = await attackSandbox(pool());
  await sb.run("import builtins\ndef no(*a, **k): raise ImportError('no')\nbuiltins.__import__ = no");
  assertTyped(await sb.run("import json"));
  await assertSandboxHealthy(sb);
});

test("an audit hook that raises on everything ends every later run with a typed error, never a host hang", async () => {
  await using sb = await attackSandbox(pool());
  await sb.run("def hook(ev, args): raise RuntimeError('no')\nsys.addaudithook(hook)");
  for (let i = 0; i < 3; i++) {
    const result = await sb.run("1 + 1", { timeout: 5_000 });
    assertTyped(result);
  }
});

test("a trace function that raises on every line ends the run with a typed error", async () => {
  await using sb = await attackSandbox(pool());
  const result = await sb.run("def t(*a): raise RuntimeError('trace')\nsys.settrace(t)\nx = 1\ny = 2");
  assertTyped(result);
  await sb.run("sys.settrace(None)");
  await assertSandboxHealthy(sb);
});

test("deleting __builtins__ from the globals breaks only the guest's own namespace", async () => {
  await using sb = await attackSandbox(pool());
  assertTyped(await sb.run("del __builtins__\nlen([])"));
  const next = await sb.run("1 + 1");
  assertTyped(next);
});
