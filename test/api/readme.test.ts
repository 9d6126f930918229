// The README's API example, run as written (with a stand-in for its `db`).
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Pool, Sandbox, runPython } from "../../src/api/index.js";

test("the README's API example behaves as the README says", async () => {
  const pool = new Pool({ size: 1 });
  try {
    const r = await runPython("print('hi')\n6 * 7", { pool });
    assert.equal(r.value, 42);
    assert.equal(r.stdout, "hi\n");
    assert.equal(r.stderr, "");
    assert.equal(r.exitCode, 0);
    assert.equal(r.error, null);

    const db = new Map([["k", "v"]]);
    const datasets = mkdtempSync(join(tmpdir(), "pyvisor-datasets-"));
    await using sb = await Sandbox.create({
      pool,
      memoryLimit: "128M",
      timeout: 5_000,
      env: { LANG: "C.UTF-8" },
      files: { "/home/user/data.csv": "a,b\n1,2\n" },
      mounts: [{ host: datasets, guest: "/data" }],
      functions: { lookup: async (key: string) => db.get(key) },
    });
    await sb.run("import csv\nrows = list(csv.reader(open('data.csv')))");
    const out = await sb.run("len(rows) + n", { inputs: { n: 40 } });
    assert.equal(out.value, 42);
    const err = await sb.run("1 / 0");
    assert.equal(err.error?.type, "ZeroDivisionError");
    assert.equal(err.error?.message, "division by zero");
    assert.match(err.error!.traceback, /^Traceback/);
    await sb.fs.writeFile("/tmp/in.txt", "from the host");
    assert.equal(await sb.fs.readText("/home/user/data.csv"), "a,b\n1,2\n");
    assert.equal((await sb.run("lookup('k')")).value, "v");
  } finally {
    await pool.close();
  }
});
