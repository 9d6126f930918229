// What the SQLite lock tests run in each sandbox: a connection to a database
// in a shared read-write mount, and helpers that report "database is locked"
// as a value instead of an exception.
import assert from "node:assert/strict";
import type { Sandbox } from "../../src/api/index.js";

/** Python that connects to /data/<db> (timeout=0: a locked database answers at once, not after SQLite's busy wait) and defines write(x) and rows(). */
export function sqliteConnect(db: string): string {
  return [
    "import sqlite3",
    `con = sqlite3.connect('/data/${db}', timeout=0, isolation_level=None)`,
    "def write(x):",
    "    try:",
    "        con.execute('INSERT INTO t VALUES (?)', (x,))",
    "        return 'written'",
    "    except sqlite3.OperationalError as e:",
    "        return str(e)",
    "def rows():",
    "    try:",
    "        return [r[0] for r in con.execute('SELECT x FROM t ORDER BY x')]",
    "    except sqlite3.OperationalError as e:",
    "        return str(e)",
  ].join("\n");
}

/** The value of `code` run in `sandbox`, failing the test on a Python error. */
export async function value(sandbox: Sandbox, code: string): Promise<unknown> {
  const result = await sandbox.run(code);
  assert.equal(result.error, null, `${JSON.stringify(result.error)}\n${result.stderr}`);
  return result.value;
}
