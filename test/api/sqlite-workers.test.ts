// Sandboxes of one pool on different workers (threads or processes) that
// share a database on a read-write host mount lock each other out as Linux
// processes do: their record locks on host files are kept by the pool's host
// (src/kernel/locks.ts), and a sandbox that goes away, is hard-stopped or
// loses its worker gives its locks up.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Pool, Sandbox } from "../../src/api/index.js";
import { sqliteConnect, value } from "../helpers/sqlite.js";

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), "pyvisor-sqlite-workers-"));
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** The worker a sandbox was placed on (the pool's own record; tests only). */
function workerOf(sb: Sandbox): { link: unknown } {
  return (sb as unknown as { placement: { worker: { link: unknown } } }).placement.worker;
}

/**
 * Two sandboxes of a fresh size-2 pool that mount `db`'s directory: the pool
 * places each new sandbox on its least-loaded worker, so two created back to
 * back (both alive) land on different workers, which is checked.
 */
async function twoWorkers(isolation: "thread" | "process", db: string) {
  const pool = new Pool({ size: 2, isolation });
  const mounts = [{ host: dir, guest: "/data", readonly: false }];
  const a = await Sandbox.create({ pool, mounts });
  const b = await Sandbox.create({ pool, mounts });
  assert.notEqual(workerOf(a), workerOf(b), "the two sandboxes are on different workers");
  const connect = sqliteConnect(db);
  await value(a, `${connect}\ncon.execute('CREATE TABLE t (x INTEGER)')`);
  await value(b, connect);
  return { pool, a, b };
}


/** `a` takes the database's write lock and keeps it across runs; `b` on the other worker is locked out. */
async function holdWriteLock(a: Sandbox, b: Sandbox): Promise<void> {
  assert.equal(await value(a, "con.execute('BEGIN EXCLUSIVE')\nwrite(1)"), "written");
  assert.equal(await value(b, "write(2)"), "database is locked", "the other worker's sandbox sees the lock");
}

for (const isolation of ["thread", "process"] as const) {
  test(`a sandbox on another worker gets "database is locked" while the first holds BEGIN EXCLUSIVE, and writes after its commit, not both writing at once (${isolation})`, async () => {
    const { pool, a, b } = await twoWorkers(isolation, `exclusive-${isolation}.db`);
    try {
      await holdWriteLock(a, b);
      assert.equal(await value(b, "rows()"), "database is locked", "an exclusive lock keeps readers out too");
      await value(a, "con.execute('COMMIT')");
      assert.equal(await value(b, "write(2)"), "written");
      assert.deepEqual(await value(a, "rows()"), [1, 2]);
    } finally {
      await pool.close();
    }
  });

  test(`concurrent read-modify-write increments from sandboxes on two workers end with the exact total, no update lost (${isolation})`, async () => {
    const { pool, a, b } = await twoWorkers(isolation, `counter-${isolation}.db`);
    try {
      await value(a, "con.execute('INSERT INTO t VALUES (0)')");
      // Each increment reads, waits (so that the other worker's increments overlap it), and writes back;
      // a busy database is waited for (SQLite's busy handler), so every increment lands.
      const increments = 40;
      const loop = [
        "import time",
        "con.execute('PRAGMA busy_timeout = 60000')",
        `for _ in range(${increments}):`,
        "    con.execute('BEGIN IMMEDIATE')",
        "    (n,) = con.execute('SELECT x FROM t').fetchone()",
        "    time.sleep(0.002)",
        "    con.execute('UPDATE t SET x = ?', (n + 1,))",
        "    con.execute('COMMIT')",
      ].join("\n");
      await Promise.all([value(a, loop), value(b, loop)]);
      assert.deepEqual(await value(a, "rows()"), [2 * increments]);
    } finally {
      await pool.close();
    }
  });

  test(`a sandbox disposed while it holds a write lock gives it up to the sandbox on the other worker (${isolation})`, async () => {
    const { pool, a, b } = await twoWorkers(isolation, `dispose-${isolation}.db`);
    try {
      await holdWriteLock(a, b);
      await a.dispose();
      assert.equal(await value(b, "write(2)"), "written");
    } finally {
      await pool.close();
    }
  });

  test(`a sandbox hard-stopped while it holds a write lock gives it up to the sandbox on the other worker (${isolation})`, async () => {
    const { pool, a, b } = await twoWorkers(isolation, `hardstop-${isolation}.db`);
    try {
      await holdWriteLock(a, b);
      // A run that swallows its stop is hard-stopped: its worker discards the sandbox.
      const stuck = await a.run("while True:\n    try:\n        while True: pass\n    except BaseException:\n        pass", { timeout: 300 });
      assert.equal(stuck.error?.type, "TimeoutError", JSON.stringify(stuck.error));
      assert.equal(await value(b, "write(2)"), "written");
    } finally {
      await pool.close();
    }
  });

  test(`a worker killed while its sandbox holds a write lock gives it up to the sandbox on the other worker (${isolation})`, async () => {
    const { pool, a, b } = await twoWorkers(isolation, `killed-${isolation}.db`);
    try {
      await holdWriteLock(a, b);
      const link = workerOf(a).link as { child?: import("node:child_process").ChildProcess; worker?: import("node:worker_threads").Worker };
      // The pool lets an idle worker's handles go (unref): a timer keeps this process up until the worker's exit is seen.
      const awake = setInterval(() => {}, 1000);
      try {
        if (isolation === "process") {
          const exited = once(link.child!, "exit");
          process.kill(link.child!.pid!, "SIGKILL");
          await exited;
        } else {
          await link.worker!.terminate();
        }
      } finally {
        clearInterval(awake);
      }
      assert.equal(await value(b, "write(2)"), "written");
    } finally {
      await pool.close();
    }
  });
}
