// State leaking between tenants: sandbox A changes everything it can reach in
// its interpreter (globals, sys.modules, builtins, files, random state, the
// environment, the working directory, stdlib modules, hooks) and is disposed.
// Neither B (alive at the same time on the same one-engine pool) nor the
// sandboxes made after A's disposal (which reuse its recycled interpreter or a
// warm one reset to the same snapshot) may see any of it. Every check runs on
// a pool of threads and on a pool of processes.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { Pool, Sandbox, type Isolation } from "../../src/api/index.js";
import { PY_ATTACK } from "./helpers.js";

const MUTATE = `
import sys, os, builtins, json, random, warnings, decimal, gc, types, time
secret_global = 'A-secret'
sys.modules['planted_by_a'] = types.ModuleType('planted_by_a')
builtins.planted_by_a = True
for path in ('/tmp/a-secret.txt', '/home/user/a-secret.txt'):
    with open(path, 'w') as f: f.write('A-secret')
os.mkdir('/tmp/a-dir')
random.seed(1234)
os.environ['A_SECRET'] = '1'
os.environ['HOME'] = '/tmp/a-home'
os.chdir('/tmp/a-dir')
import json as real_json
real_json.dumps = lambda *a, **k: 'patched'
sys.path.insert(0, '/tmp/a-dir')
def _hook(event, args):
    if event == 'open' and 'canary' in str(args[0]): raise RuntimeError('A-hook')
sys.addaudithook(_hook)
warnings.simplefilter('error')
decimal.getcontext().prec = 3
sys.set_int_max_str_digits(640)
gc.disable()
kept_open = [os.open('/tmp/a-secret.txt', os.O_RDONLY) for _ in range(10)]
import pyvisor
pyvisor.call = lambda *a, **k: 'A-hijacked'
time.tzname = ('A-zone', 'A-zone')
'mutated'
`;

/** Changes that break A's own driver, so each is a run of its own whose result is not looked at. */
const BREAK = [
  "import sys\nsys.stdout = open('/tmp/a-stdout', 'w')",
  "import os.path\nos.path.join = lambda *a: 'patched'",
  "import sys, types\nfake = types.ModuleType('json')\nfake.dumps = lambda *a, **k: 'fake'\nsys.modules['json'] = fake",
  "import sys\nsys.setrecursionlimit(60)",
  "import builtins\nbuiltins.len = lambda x: -1",
];

interface Tenants { pool: Pool; alongside: Sandbox; later: Sandbox[] }
const tenants = new Map<Isolation, Tenants>();

async function setUp(isolation: Isolation): Promise<Tenants> {
  const pool = new Pool({ size: 1, isolation });
  const functions = { answer: () => 42 };
  const a = await Sandbox.create({ pool, functions });
  const alongside = await Sandbox.create({ pool, functions });
  const mutated = await a.run(MUTATE);
  assert.equal(mutated.error, null, JSON.stringify(mutated.error));
  assert.equal(mutated.value, "mutated");
  for (const code of BREAK) await a.run(code);
  await a.dispose();
  const later: Sandbox[] = [];
  for (let i = 0; i < 3; i++) later.push(await Sandbox.create({ pool, functions }));
  return { pool, alongside, later };
}

before(async () => {
  for (const isolation of ["thread", "process"] as const) tenants.set(isolation, await setUp(isolation));
});
after(async () => {
  for (const { pool, alongside, later } of tenants.values()) {
    for (const sb of [alongside, ...later]) await sb.dispose();
    await pool.close({ force: true });
  }
});

/** Evaluates `check` (a Python expression) in every other tenant on both pools; each must give `expected`. */
async function everyTenantSees(check: string, expected: unknown): Promise<void> {
  for (const [isolation, { alongside, later }] of tenants) {
    for (const [i, sb] of [alongside, ...later].entries()) {
      const result = await sb.run(`${PY_ATTACK}\n${check}`);
      assert.equal(result.error, null, `${isolation} tenant ${i}: ${JSON.stringify(result.error)}`);
      assert.deepEqual(result.value, expected, `${isolation} tenant ${i} (${i === 0 ? "alive alongside A" : "made after A's disposal"})`);
    }
  }
}

test("another tenant does not see A's globals", async () => {
  await everyTenantSees("'secret_global' in globals()", false);
});

test("another tenant does not get A's replaced sys.modules entry", async () => {
  await everyTenantSees("import json\njson.dumps([1])", "[1]");
});

test("another tenant does not see a module A planted in sys.modules", async () => {
  await everyTenantSees("import sys\n'planted_by_a' in sys.modules", false);
});

test("another tenant does not get A's replaced builtin", async () => {
  await everyTenantSees("len([1, 2, 3])", 3);
});

test("another tenant does not see a name A added to builtins", async () => {
  await everyTenantSees("import builtins\nhasattr(builtins, 'planted_by_a')", false);
});

test("another tenant does not see A's files in /tmp", async () => {
  await everyTenantSees("import os\n[os.path.exists('/tmp/a-secret.txt'), os.path.exists('/tmp/a-dir'), os.path.exists('/tmp/a-stdout')]", [false, false, false]);
});

test("another tenant does not see A's files in the home directory", async () => {
  await everyTenantSees("import os\nos.path.exists('/home/user/a-secret.txt')", false);
});

test("another tenant's random numbers do not follow A's seed", async () => {
  await everyTenantSees("import random\nrandom.random() == random.Random(1234).random()", false);
});

test("another tenant does not see A's environment variables", async () => {
  await everyTenantSees("import os\n[os.environ.get('A_SECRET'), os.environ.get('HOME')]", [null, "/home/user"]);
});

test("another tenant starts in its own working directory, not A's", async () => {
  await everyTenantSees("import os\nos.getcwd()", "/home/user");
});

test("another tenant does not get A's monkeypatched stdlib function", async () => {
  await everyTenantSees("import json\njson.dumps({'a': 1})", '{"a": 1}');
});

test("another tenant does not get A's monkeypatched os.path", async () => {
  await everyTenantSees("import os.path\nos.path.join('a', 'b')", "a/b");
});

test("another tenant's sys.path does not hold A's entry", async () => {
  await everyTenantSees("import sys\n'/tmp/a-dir' in sys.path", false);
});

test("another tenant does not inherit A's recursion limit", async () => {
  await everyTenantSees("import sys\nsys.getrecursionlimit() >= 1000", true);
});

test("another tenant is not watched by A's audit hook", async () => {
  await everyTenantSees("tries(lambda: open('/tmp/canary', 'w').close())", null);
});

test("another tenant does not inherit A's warnings filter", async () => {
  await everyTenantSees("import warnings\nwarnings.warn('harmless')\n'no error'", "no error");
});

test("another tenant does not inherit A's decimal precision", async () => {
  await everyTenantSees("import decimal\nlen(str(decimal.Decimal(1) / 3))", 30);
});

test("another tenant does not inherit A's int max str digits", async () => {
  await everyTenantSees("len(str(10 ** 1000))", 1001);
});

test("another tenant does not inherit A's disabled garbage collector", async () => {
  await everyTenantSees("import gc\ngc.isenabled()", true);
});

test("another tenant does not inherit A's open file descriptors", async () => {
  await everyTenantSees("import os\nfd = os.open('/tmp/probe', os.O_CREAT | os.O_WRONLY)\nos.close(fd)\nos.unlink('/tmp/probe')\nfd < 10", true);
});

test("another tenant's host functions are not hijacked by A's replaced pyvisor.call", async () => {
  await everyTenantSees("from pyvisor.host import answer\nanswer()", 42);
});

test("another tenant does not inherit A's time zone names", async () => {
  await everyTenantSees("import time\nlist(time.tzname)", ["UTC", "UTC"]);
});

test("another tenant's stdout reaches its own host, not A's redirect", async () => {
  for (const [isolation, { alongside, later }] of tenants) {
    for (const sb of [alongside, ...later]) {
      const result = await sb.run("print('mine')");
      assert.equal(result.stdout, "mine\n", isolation);
    }
  }
});

test("two deterministic sandboxes with one seed agree, whatever another tenant did to the random state", async () => {
  for (const { pool } of tenants.values()) {
    const outputs: unknown[] = [];
    for (let i = 0; i < 2; i++) {
      await using sb = await Sandbox.create({ pool, deterministic: true, seed: 5 });
      outputs.push((await sb.run("import random, time\n[random.random(), time.time()]")).value);
    }
    assert.deepEqual(outputs[0], outputs[1]);
  }
});
