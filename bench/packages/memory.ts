// Worker RSS with 20 sandboxes, bare and each naming one 32 MiB package: the
// package's layer is counted once per worker, not per sandbox (README
// "Packages"). Linux only (reads /proc). `node dist/bench/packages/memory.js`
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { Pool, Sandbox } from "../../src/api/index.js";
import { writeWheel } from "../../test/helpers/wheel.js";

const SANDBOXES = 20;
const PACKAGE_BYTES = 32 * 1024 * 1024;

const rssMiB = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) / 1024;
const children = () => readFileSync(`/proc/${process.pid}/task/${process.pid}/children`, "utf8").split(/\s+/).filter(Boolean).map(Number);

/** The RSS of a one-worker pool's worker holding SANDBOXES sandboxes, each having run once. */
async function workerRss(packages: string[]): Promise<number> {
  const before = new Set(children());
  const pool = new Pool({ size: 1 });
  const sandboxes: Sandbox[] = [];
  try {
    for (let i = 0; i < SANDBOXES; i++) {
      const sandbox = await Sandbox.create({ pool, packages });
      sandboxes.push(sandbox);
      const result = await sandbox.run(packages.length > 0 ? "import bigdata, os\nos.path.getsize(bigdata.__path__[0] + '/blob.bin')" : "1");
      if (result.error !== null) throw new Error(result.error.traceback);
    }
    return rssMiB(children().find((pid) => !before.has(pid))!);
  } finally {
    for (const sandbox of sandboxes) await sandbox.dispose();
    await pool.close();
  }
}

const dir = mkdtempSync(join(tmpdir(), "pyvisor-bench-packages-"));
try {
  const wheel = writeWheel(dir, { name: "bigdata", version: "1.0", files: { "bigdata/__init__.py": "", "bigdata/blob.bin": randomBytes(PACKAGE_BYTES) } });
  const bare = await workerRss([]);
  const named = await workerRss([wheel]);
  console.log(`worker RSS with ${SANDBOXES} sandboxes: bare ${bare.toFixed(0)} MiB; each naming a ${PACKAGE_BYTES / 2 ** 20} MiB package ${named.toFixed(0)} MiB (+${(named - bare).toFixed(0)} MiB; one copy per sandbox would be +${(SANDBOXES * PACKAGE_BYTES) / 2 ** 20} MiB); load average ${loadavg()[0]!.toFixed(1)}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
