// What a Python user expects of the interpreter, as CPython gives it: imports
// from the working directory or beside the script, the `site` builtins, a
// last value that never turns a good run into an error, stdio and builtins
// that one run cannot break for the next, host functions as a module, a
// clear "no network" error, tracebacks without the driver's frames.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { Pool, Sandbox, type RunResult } from "../../src/api/index.js";

let pool: Pool;
before(() => { pool = new Pool({ size: 1, isolation: "thread" }); });
after(async () => { await pool.close(); });

function ok(result: RunResult): RunResult {
  assert.equal(result.error, null, JSON.stringify(result.error));
  return result;
}

test("a code run imports a module from the working directory (sys.path[0] is '' as with python -c)", async () => {
  await using sb = await Sandbox.create({ pool, files: { "/home/user/helpers.py": "def greet(): return 'hi'\n" } });
  assert.equal(ok(await sb.run("import sys, helpers\n[sys.path[0], helpers.greet()]")).value?.toString(), ",hi");
});

test("a code run imports from the working directory it changed to, as with python -c", async () => {
  await using sb = await Sandbox.create({ pool, files: { "/tmp/lib/tool.py": "NAME = 'tool'\n" } });
  assert.equal(ok(await sb.run("import os\nos.chdir('/tmp/lib')\nimport tool\ntool.NAME")).value, "tool");
});

test("a file run imports a module beside the script (sys.path[0] is the script's directory)", async () => {
  await using sb = await Sandbox.create({
    pool, files: { "/tmp/app/main.py": "import sibling, sys\nprint(sibling.X, sys.path[0])\n", "/tmp/app/sibling.py": "X = 42\n" },
  });
  assert.equal(ok(await sb.runFile("/tmp/app/main.py")).stdout, "42 /tmp/app\n");
});

test("runs of different kinds do not pile their entries up on sys.path", async () => {
  await using sb = await Sandbox.create({ pool, files: { "/tmp/app/main.py": "pass\n" } });
  ok(await sb.runFile("/tmp/app/main.py"));
  assert.deepEqual(ok(await sb.run("import sys\n[p for p in sys.path if p in ('', '/tmp/app')]")).value, [""]);
});

test("a module run imports from the working directory (sys.path[0] is the cwd, as with python -m)", async () => {
  await using sb = await Sandbox.create({ pool, files: { "/home/user/mod.py": "import sys\nprint(sys.path[0])\n" } });
  assert.equal(ok(await sb.runModule("mod")).stdout, "/home/user\n");
});

test("exit, quit, help, copyright, credits and license are builtins, as site makes them", async () => {
  await using sb = await Sandbox.create({ pool });
  const result = ok(await sb.run("[repr(exit), repr(quit), 'Copyright' in repr(copyright), callable(help), callable(credits), callable(license)]"));
  assert.deepEqual(result.value, ["Use exit() or Ctrl-D (i.e. EOF) to exit", "Use quit() or Ctrl-D (i.e. EOF) to exit", true, true, true, true]);
});

test("exit(3) ends the run with status 3, and the next run still reads stdin", async () => {
  await using sb = await Sandbox.create({ pool });
  const exited = await sb.run("exit(3)");
  assert.equal(exited.exitCode, 3);
  assert.equal(exited.error, null);
  assert.equal(ok(await sb.run("input()", { stdin: "line\n" })).value, "line");
});

test("help(len) prints len's documentation", async () => {
  await using sb = await Sandbox.create({ pool });
  assert.match(ok(await sb.run("help(len)")).stdout, /len\(obj, \/\)/);
});

const reprValues: Array<[string, string, string]> = [
  ["a date", "import datetime\ndatetime.date(2024, 5, 17)", "datetime.date(2024, 5, 17)"],
  ["a Decimal", "import decimal\ndecimal.Decimal('1.10')", "Decimal('1.10')"],
  ["a Fraction", "import fractions\nfractions.Fraction(1, 3)", "Fraction(1, 3)"],
  ["a class", "class Point: pass\nPoint", "<class '__main__.Point'>"],
  ["a list holding a Decimal", "import decimal\n[1, decimal.Decimal('2')]", "[1, Decimal('2')]"],
];
for (const [what, code, repr] of reprValues) {
  test(`${what} as the last value is its repr with valueRepr, not a ConversionError`, async () => {
    await using sb = await Sandbox.create({ pool });
    const result = ok(await sb.run(code));
    assert.equal(result.value, repr);
    assert.equal(result.valueRepr, true);
    assert.equal(result.exitCode, 0);
  });
}

test("a function as the last value is its repr with valueRepr", async () => {
  await using sb = await Sandbox.create({ pool });
  const result = ok(await sb.run("def f(): pass\nf"));
  assert.match(result.value as string, /^<function f at 0x[0-9a-f]+>$/);
  assert.equal(result.valueRepr, true);
});

test("an object whose repr raises still gives a successful run, its value naming the failure", async () => {
  await using sb = await Sandbox.create({ pool });
  const result = ok(await sb.run("class Odd:\n  def __repr__(self): raise ValueError('no repr')\nOdd()"));
  assert.equal(result.value, "<Odd object; repr() failed: no repr>");
  assert.equal(result.valueRepr, true);
});

test("a value the codec carries comes as data, with valueRepr false", async () => {
  await using sb = await Sandbox.create({ pool });
  const result = ok(await sb.run("{'a': [1, 2.5, 'x']}"));
  assert.deepEqual(result.value, { a: [1, 2.5, "x"] });
  assert.equal(result.valueRepr, false);
});

test("after sys.stdout.close() (as -m json.tool does), the next run prints again", async () => {
  await using sb = await Sandbox.create({ pool });
  ok(await sb.run("import sys\nsys.stdout.close()\nsys.stderr.close()"));
  const next = ok(await sb.run("import sys\nprint('out')\nprint('err', file=sys.stderr)"));
  assert.equal(next.stdout, "out\n");
  assert.equal(next.stderr, "err\n");
});

test("a run that replaced sys.stdout does not take the next run's output", async () => {
  await using sb = await Sandbox.create({ pool });
  ok(await sb.run("import sys, io\nsys.stdout = io.StringIO()\nsys.stdin = None"));
  const next = ok(await sb.run("print('visible')\ninput()", { stdin: "typed\n" }));
  assert.equal(next.stdout, "visible\n");
  assert.equal(next.value, "typed");
});

test("a run that removed the driver's modules from sys.modules leaves the next run's pyvisor whole", async () => {
  await using sb = await Sandbox.create({ pool, functions: { twice: (x: number) => 2 * x } });
  ok(await sb.run("import sys\nfor name in [n for n in sys.modules if 'pyvisor' in n]: del sys.modules[name]"));
  assert.deepEqual(ok(await sb.run("import pyvisor\n[pyvisor.functions(), pyvisor.call('twice', 4)]")).value, [["twice"], 8]);
});

test("a builtin a run replaced is back in the next run, and a builtin it added stays", async () => {
  await using sb = await Sandbox.create({ pool });
  ok(await sb.run("import builtins\nbuiltins.print = None\nbuiltins.len = lambda x: -1\nbuiltins.mine = 7"));
  assert.deepEqual(ok(await sb.run("print('p')\n[len('ab'), mine]")).value, [2, 7]);
});

test("host functions are importable from pyvisor.host", async () => {
  await using sb = await Sandbox.create({ pool, functions: { search: (q: string) => `found ${q}` } });
  assert.equal(ok(await sb.run("from pyvisor.host import search\nsearch('x')")).value, "found x");
});

test("a name pyvisor.host does not offer is an ImportError naming what it offers", async () => {
  await using sb = await Sandbox.create({ pool, functions: { search: () => 1 } });
  const result = await sb.run("from pyvisor.host import nope");
  assert.equal(result.error?.type, "ImportError");
  assert.match(result.error!.message, /nope/);
});

test("host functions are not globals unless asked: a program's own name is never shadowed", async () => {
  await using sb = await Sandbox.create({ pool, functions: { search: () => "host" } });
  assert.equal(ok(await sb.run("'search' in globals()")).value, false);
  assert.equal(ok(await sb.run("search = 'mine'\nsearch")).value, "mine");
  assert.equal(ok(await sb.run("search")).value, "mine");
});

test("hostGlobals: true binds the host functions as globals of __main__ too", async () => {
  await using sb = await Sandbox.create({ pool, hostGlobals: true, functions: { search: (q: string) => `found ${q}` } });
  assert.equal(ok(await sb.run("search('x')")).value, "found x");
});

test("a global the program bound itself is not overwritten by a host function of the same name on later runs", async () => {
  await using sb = await Sandbox.create({ pool, hostGlobals: true, functions: { search: () => "host" } });
  assert.equal(ok(await sb.run("search()")).value, "host");
  ok(await sb.run("def search(): return 'mine'"));
  assert.equal(ok(await sb.run("search()")).value, "mine");
  assert.equal(ok(await sb.run("from pyvisor.host import search as host_search\nhost_search()")).value, "host");
});

test("urllib fails with a URLError saying there is no network in this sandbox", async () => {
  await using sb = await Sandbox.create({ pool });
  const result = await sb.run("import urllib.request\nurllib.request.urlopen('http://example.com/')");
  assert.equal(result.error?.type, "URLError");
  assert.match(result.error!.message, /no network in this sandbox/);
});

test("socket name lookups and sockets fail with an OSError saying there is no network in this sandbox", async () => {
  await using sb = await Sandbox.create({ pool });
  const code = "import socket\ndef why(f, *a):\n  try: f(*a)\n  except OSError as e: return str(e)\n"
    + "[why(socket.getaddrinfo, 'example.com', 80), why(socket.gethostbyname, 'example.com'), why(socket.create_connection, ('example.com', 80)), why(socket.socket)]";
  const messages = ok(await sb.run(code)).value as string[];
  assert.equal(messages.length, 4);
  for (const message of messages) assert.match(message, /no network in this sandbox/);
});

test("a SyntaxError's traceback is python's, without an internal ast.py frame", async () => {
  await using sb = await Sandbox.create({ pool });
  const result = await sb.run("x = (1 +");
  assert.equal(result.error?.type, "SyntaxError");
  assert.doesNotMatch(result.error!.traceback, /ast\.py|_pyvisor|Traceback/);
  assert.match(result.error!.traceback, /^ {2}File "<string>", line 1\n/);
});

test("a file run's traceback starts at the script, without runpy's or the driver's frames", async () => {
  await using sb = await Sandbox.create({ pool, files: { "/tmp/boom.py": "def f():\n    1 / 0\nf()\n" } });
  const result = await sb.runFile("/tmp/boom.py");
  assert.equal(result.error?.type, "ZeroDivisionError");
  assert.match(result.error!.traceback, /^Traceback \(most recent call last\):\n {2}File "\/tmp\/boom\.py", line 3, in <module>/);
  assert.doesNotMatch(result.stderr + result.error!.traceback, /runpy|_pyvisor/);
});
