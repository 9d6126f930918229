// Two sandboxes sharing a database file on a read-write host mount lock each
// other out as two processes on Linux do: SQLite's "unix" VFS takes its POSIX
// record locks through the kernel (the `pyvisor.fd_lock` import, called by
// engine/src/sqlite_wasi_locks.c), which keeps them per host file across the
// sandboxes of a pool (here, of its one worker; sqlite-workers.test.ts: across workers).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Pool, Sandbox } from "../../src/api/index.js";
import { sqliteConnect, value } from "../helpers/sqlite.js";

let pool: Pool;
let dir: string;
before(() => {
  pool = new Pool({ size: 1 });
  dir = mkdtempSync(join(tmpdir(), "pyvisor-sqlite-"));
});
after(async () => {
  await pool.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The value of `code` run in `sb`, failing the test on a Python error. */

const CONNECT = sqliteConnect("shared.db");

test("a second sandbox cannot write a shared database while the first holds a write transaction, and then sees its commit (no cross-sandbox locks let both write)", async () => {
  const mounts = [{ host: dir, guest: "/data", readonly: false }];
  await using first = await Sandbox.create({ pool, mounts });
  await using second = await Sandbox.create({ pool, mounts });
  await value(first, `${CONNECT}\ncon.execute('CREATE TABLE t (x INTEGER)')`);
  await value(second, CONNECT);

  // The first sandbox's transaction stays open across runs (its connection is a global).
  assert.equal(await value(first, "con.execute('BEGIN IMMEDIATE')\nwrite(1)"), "written");
  assert.equal(await value(second, "write(2)"), "database is locked");
  assert.deepEqual(await value(second, "rows()"), [], "a reader does not see the uncommitted row");

  await value(first, "con.execute('COMMIT')");
  assert.deepEqual(await value(second, "rows()"), [1]);
  assert.equal(await value(second, "write(2)"), "written");
  assert.deepEqual(await value(first, "rows()"), [1, 2]);
});
