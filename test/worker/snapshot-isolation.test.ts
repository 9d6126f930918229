// Sandboxes restored from one snapshot (same worker thread) share nothing:
// files, globals, module state and random sequences are their own. The str
// hash secret is the snapshot's (fixed when it was made) and differs between
// engines, which make their own snapshots.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { Pool, Sandbox } from "../../src/api/index.js";

let pool: Pool;
before(() => { pool = new Pool({ size: 1, isolation: "thread" }); });
after(async () => { await pool.close(); });

async function pair(): Promise<[Sandbox, Sandbox]> {
  return [await Sandbox.create({ pool }), await Sandbox.create({ pool })];
}

test("a file written by one sandbox is invisible to another from the same snapshot", async () => {
  const [a, b] = await pair();
  await a.run("open('/tmp/mine.txt', 'w').write('a')\nopen('/home/user/here.txt', 'w').write('a')");
  assert.deepEqual((await b.run("import os\n(os.listdir('/tmp'), os.listdir('/home/user'))")).value, [[], []]);
  await a.dispose(); await b.dispose();
});

test("globals set in one sandbox do not appear in another", async () => {
  const [a, b] = await pair();
  await a.run("secret = 42");
  assert.equal((await b.run("'secret' in globals()")).value, false);
  await a.dispose(); await b.dispose();
});

test("module state changed in one sandbox stays there", async () => {
  const [a, b] = await pair();
  await a.run("import json, sys, os\njson.marker = 1\nsys.path.append('/evil')\nos.environ['LEAK'] = '1'\nsys.setrecursionlimit(50)");
  const seen = await b.run("import json, sys, os\n(hasattr(json, 'marker'), '/evil' in sys.path, 'LEAK' in os.environ, sys.getrecursionlimit())");
  assert.deepEqual(seen.value, [false, false, false, 1000]);
  await a.dispose(); await b.dispose();
});

test("random sequences and os.urandom differ between sandboxes from one snapshot", async () => {
  const [a, b] = await pair();
  const code = "import random, os\n([random.random() for _ in range(3)], os.urandom(16))";
  const [ra, rb] = [(await a.run(code)).value as [number[], Uint8Array], (await b.run(code)).value as [number[], Uint8Array]];
  assert.notDeepEqual(ra[0], rb[0]);
  assert.notDeepEqual(Buffer.from(ra[1]), Buffer.from(rb[1]));
  await a.dispose(); await b.dispose();
});

test("each sandbox has its own environment and working directory, not the snapshot's", async () => {
  const a = await Sandbox.create({ pool, env: { WHO: "a" }, cwd: "/tmp" });
  const b = await Sandbox.create({ pool, env: { WHO: "b" } });
  assert.deepEqual((await a.run("import os\n(os.environ.get('WHO'), os.getcwd())")).value, ["a", "/tmp"]);
  assert.deepEqual((await b.run("import os\n(os.environ.get('WHO'), os.getcwd())")).value, ["b", "/home/user"]);
  await a.dispose(); await b.dispose();
});

test("the str hash secret is fixed per snapshot and differs between engines", async () => {
  const [a, b] = await pair();
  const code = "hash('pyvisor')";
  assert.equal((await a.run(code)).value, (await b.run(code)).value, "same snapshot, same secret (documented)");
  const other = new Pool({ size: 1, isolation: "thread" });
  try {
    const c = await Sandbox.create({ pool: other });
    assert.notEqual((await c.run(code)).value, (await a.run(code)).value, "another engine made another snapshot");
    await c.dispose();
  } finally {
    await other.close();
  }
  await a.dispose(); await b.dispose();
});

test("deterministic sandboxes boot fresh and repeat themselves exactly", async () => {
  const code = "import random, time\n(random.random(), time.time(), hash('x'))";
  const a = await Sandbox.create({ pool, deterministic: true, seed: 7, env: { PYTHONHASHSEED: "0" } });
  const b = await Sandbox.create({ pool, deterministic: true, seed: 7, env: { PYTHONHASHSEED: "0" } });
  assert.deepEqual((await a.run(code)).value, (await b.run(code)).value);
  await a.dispose(); await b.dispose();
});

test("an interpreter recycled from a disposed sandbox carries none of its state", async () => {
  for (let round = 0; round < 4; round++) {
    const a = await Sandbox.create({ pool });
    await a.run("import json, sys\njson.marker = 1\nsys.modules['planted'] = json\nleft_behind = 'x' * 100000\ncounter = 41");
    await a.dispose();
    await new Promise((resolve) => setTimeout(resolve, 50)); // the engine resets it for the next sandbox
    const b = await Sandbox.create({ pool });
    const seen = await b.run("import json, sys\n(hasattr(json, 'marker'), 'planted' in sys.modules, 'left_behind' in globals(), 'counter' in globals())");
    assert.deepEqual(seen.value, [false, false, false, false]);
    await b.dispose();
  }
});
