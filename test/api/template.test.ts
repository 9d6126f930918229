// Templates: sandboxes started from the state a setup left, each with its own
// copy of that state (globals, files), its own random state, working
// directory and environment, and the limits of a sandbox.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { InvalidOptionsError, Pool, Template, TemplateDisposedError, TemplateSetupError } from "../../src/api/index.js";

const pool = new Pool({ size: 1, isolation: "thread" });
after(() => pool.close());

const SETUP = [
  "import json, random, tempfile, time",
  "model = {'weights': [1, 2, 3]}",
  "rng = random.Random()",
  "started = time.monotonic()",
  "with open('/tmp/data.txt', 'w') as f: f.write('from setup')",
  "with open('notes.txt', 'w') as f: f.write('home')",
].join("\n");

let shared: Template | null = null;
async function template(): Promise<Template> {
  shared ??= await Template.create({ pool, setup: SETUP });
  return shared;
}

test("a template sandbox starts with the setup's globals and imports, and its changes stay its own", async () => {
  const t = await template();
  const a = await t.sandbox();
  const b = await t.sandbox();
  try {
    assert.deepEqual((await a.run("model['weights'].append(4); model")).value, { weights: [1, 2, 3, 4] });
    assert.deepEqual((await b.run("json.dumps(model)")).value, '{"weights": [1, 2, 3]}');
  } finally {
    await a.dispose();
    await b.dispose();
  }
});

test("a file a template sandbox writes is invisible to the others and to later sandboxes (copy on write)", async () => {
  const t = await template();
  const a = await t.sandbox();
  const b = await t.sandbox();
  try {
    await a.run("with open('/tmp/data.txt', 'r+') as f: f.write('CHANGED')\nwith open('notes.txt', 'a') as f: f.write('+a')");
    assert.equal((await a.run("open('/tmp/data.txt').read()")).value, "CHANGEDtup");
    assert.equal((await b.run("open('/tmp/data.txt').read() + '|' + open('/home/user/notes.txt').read()")).value, "from setup|home");
  } finally {
    await a.dispose();
    await b.dispose();
  }
  const c = await t.sandbox();
  try {
    assert.equal((await c.run("open('/tmp/data.txt').read()")).value, "from setup");
  } finally {
    await c.dispose();
  }
});

test("two sandboxes of one template draw different random numbers (module, setup's Random, tempfile names)", async () => {
  const t = await template();
  const draws: unknown[] = [];
  for (let i = 0; i < 2; i++) {
    const sb = await t.sandbox();
    try {
      draws.push((await sb.run("(random.random(), rng.random(), next(tempfile._get_candidate_names()))")).value);
    } finally {
      await sb.dispose();
    }
  }
  const [first, second] = draws as [[number, number, string], [number, number, string]];
  assert.notEqual(first[0], second[0], "random.random()");
  assert.notEqual(first[1], second[1], "a Random the setup made");
  assert.notEqual(first[2], second[2], "tempfile's name sequence");
});

test("each template sandbox takes its own working directory and environment", async () => {
  const t = await template();
  const sb = await t.sandbox({ cwd: "/work", env: { STAGE: "one" } });
  try {
    assert.deepEqual((await sb.run("import os\n[os.getcwd(), os.environ.get('STAGE')]")).value, ["/work", "one"]);
  } finally {
    await sb.dispose();
  }
});

test("the monotonic clock of a template sandbox does not go back past what the setup read", async () => {
  const t = await template();
  const sb = await t.sandbox();
  try {
    assert.equal((await sb.run("time.monotonic() >= started")).value, true);
  } finally {
    await sb.dispose();
  }
});

test("a setup that raises rejects with TemplateSetupError carrying its traceback and output", async () => {
  await assert.rejects(Template.create({ pool, setup: "print('loading')\nraise ValueError('no model')" }), (error: unknown) => {
    assert.ok(error instanceof TemplateSetupError);
    assert.equal(error.type, "ValueError");
    assert.equal(error.reason, "no model");
    assert.match(error.traceback, /File "<setup>", line 2/);
    assert.equal(error.stdout, "loading\n");
    return true;
  });
});

test("a setup that leaves a file open is refused, naming the file", async () => {
  await assert.rejects(Template.create({ pool, setup: "log = open('/tmp/log.txt', 'w')" }), (error: unknown) => {
    assert.ok(error instanceof TemplateSetupError);
    assert.equal(error.type, "CaptureError");
    assert.match(error.message, /\/tmp\/log\.txt/);
    return true;
  });
});

test("a setup that runs out of time is a TemplateSetupError naming the limit", async () => {
  await assert.rejects(Template.create({ pool, setup: "while True: pass", timeout: 300 }), (error: unknown) => {
    assert.ok(error instanceof TemplateSetupError);
    assert.equal(error.type, "TimeoutError");
    return true;
  });
});

test("a disposed template refuses new sandboxes with TemplateDisposedError; its sandboxes keep working", async () => {
  const t = await Template.create({ pool, setup: "x = 41" });
  const sb = await t.sandbox();
  await t.dispose();
  assert.equal(t.alive, false);
  await assert.rejects(t.sandbox(), TemplateDisposedError);
  try {
    assert.equal((await sb.run("x + 1")).value, 42);
  } finally {
    await sb.dispose();
  }
});

test("limits apply to template sandboxes: timeout, memory and disk quota", async () => {
  const t = await template();
  const sb = await t.sandbox({ timeout: 300, memoryLimit: "64M", diskQuota: 200_000 });
  try {
    assert.equal((await sb.run("while True: pass")).error?.type, "TimeoutError");
    assert.equal((await sb.run("b = bytearray(100 * 1024 * 1024)")).error?.type, "MemoryError");
    assert.equal((await sb.run("open('/tmp/big', 'wb').write(b'x' * 300_000)")).error?.type, "OSError");
    assert.equal((await sb.run("model['weights']")).value?.toString(), "1,2,3");
  } finally {
    await sb.dispose();
  }
});

test("a template's files count against each sandbox's disk quota, and deleting one gives its bytes back", async () => {
  const t = await Template.create({ pool, setup: "with open('/tmp/blob', 'wb') as f: f.write(b'x' * 100_000)" });
  const sb = await t.sandbox({ diskQuota: 150_000 });
  try {
    assert.equal((await sb.run("open('/tmp/more', 'wb').write(b'y' * 80_000)")).error?.type, "OSError");
    await sb.run("import os\nos.remove('/tmp/more') if os.path.exists('/tmp/more') else None\nos.remove('/tmp/blob')");
    assert.equal((await sb.run("open('/tmp/more', 'wb').write(b'y' * 140_000)")).error, null);
    assert.equal((await sb.run("open('/tmp/more2', 'wb').write(b'y' * 20_000)")).error?.type, "OSError");
  } finally {
    await sb.dispose();
    await t.dispose();
  }
});

test("a template sandbox's options may not replace what is the template's (mounts, determinism, pool)", async () => {
  const t = await template();
  await assert.rejects(t.sandbox({ mounts: [] } as never), (error: unknown) => error instanceof InvalidOptionsError && error.option === "mounts");
  await assert.rejects(Template.create({ pool, setup: "", deterministic: true }), (error: unknown) => error instanceof InvalidOptionsError && error.option === "deterministic");
  await assert.rejects(Template.create({ pool } as never), (error: unknown) => error instanceof InvalidOptionsError && error.option === "setup");
});

test("a template refreshed after its sandboxes re-runs the setup: a new hash secret, the same globals", async () => {
  const t = await Template.create({ pool, setup: "ready = True", refresh: { sandboxes: 1 } });
  try {
    const hashes = new Set<unknown>();
    for (let i = 0; i < 40 && hashes.size < 2; i++) {
      const sb = await t.sandbox();
      try {
        const result = await sb.run("(ready, hash('abc'))");
        assert.equal((result.value as unknown[])[0], true);
        hashes.add((result.value as unknown[])[1]);
      } finally {
        await sb.dispose();
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.equal(hashes.size, 2);
    assert.ok(t.refreshes >= 1);
  } finally {
    await t.dispose();
  }
});

test("a template on a process pool serves sandboxes on every worker", async () => {
  const processes = new Pool({ size: 2, isolation: "process" });
  try {
    const t = await Template.create({ pool: processes, setup: "import os\nvalue = 7" });
    const sandboxes = await Promise.all([t.sandbox(), t.sandbox(), t.sandbox()]);
    try {
      const results = await Promise.all(sandboxes.map((sb) => sb.run("value * 6")));
      assert.deepEqual(results.map((r) => r.value), [42, 42, 42]);
    } finally {
      await Promise.all(sandboxes.map((sb) => sb.dispose()));
      await t.dispose();
    }
  } finally {
    await processes.close();
  }
});

test("a file the template's options gave and its setup changed reaches its sandboxes as the setup left it", async () => {
  const t = await Template.create({ pool, files: { "/home/user/config.txt": "given" }, setup: "open('config.txt', 'w').write('set up')" });
  const sb = await t.sandbox();
  try {
    assert.equal((await sb.run("open('config.txt').read()")).value, "set up");
  } finally {
    await sb.dispose();
    await t.dispose();
  }
});
