// Save and restore, measured: sizes and times of sb.save / Sandbox.restore
// for a bare sandbox and for one that imported json, decimal and sqlite3 and
// holds a 10 MB list; and a paused run's log size, save size and resume
// (replay) time. The pool is warmed first, so that restore times are the
// restore's, not a worker's start-up.
//   npm run build && node dist/bench/durable/run.js
import { loadavg } from "node:os";
import { PausedRun, Pool, Sandbox } from "../../src/api/index.js";
import { open, SaveKind } from "../../src/api/durable.js";
import { decodePayload, decompress, DEFAULT_COMPRESSION, Compression } from "../../src/worker/durable.js";

const key = "bench key, sixteen bytes or more";
const pool = new Pool({ size: 1, isolation: "thread" });
const ms = (start: number) => Math.round(performance.now() - start);
const mb = (bytes: number) => (bytes / 1e6).toFixed(2);

async function measure(label: string, setup: string): Promise<void> {
  const sb = await Sandbox.create({ pool, memoryLimit: "512MB" });
  const ran = await sb.run(setup);
  if (ran.error) throw new Error(ran.error.message);
  let start = performance.now();
  const bytes = await sb.save({ key });
  const saveMs = ms(start);
  start = performance.now();
  const restored = await Sandbox.restore(bytes, { key, pool, memoryLimit: "512MB" });
  const restoreMs = ms(start);
  const check = await restored.run("len(globals())");
  console.log(`${label}: memory ${mb(ran.stats.memoryBytes)} MB, saved ${mb(bytes.length)} MB, save ${saveMs} ms, restore ${restoreMs} ms (first run after it: ${check.stats.wallMs.toFixed(0)} ms)`);
  await restored.dispose();
  await sb.dispose();
}

async function measurePause(label: string, before: string): Promise<void> {
  const sb = await Sandbox.create({ pool, functions: { approve: () => true } });
  let start = performance.now();
  const step = await sb.start(`from pyvisor.host import approve\n${before}\napprove(1)`, { pause: ["approve"] });
  const firstMs = ms(start);
  if (step.done) throw new Error("did not pause");
  start = performance.now();
  const bytes = await step.save({ key });
  const saveMs = ms(start);
  const { payload } = open(bytes, Buffer.from(key), SaveKind.paused);
  const log = decodePayload(decompress(payload.data, payload.compression, payload.rawLength)).paused!.log;
  const writes = log.reduce((n, e) => n + e.writes.reduce((m, [, b]) => m + b.length, 0), 0);
  const calls = log.reduce((n, e) => n + e.repeat, 0);
  start = performance.now();
  const again = await PausedRun.restore(bytes, { key, pool, functions: { approve: () => true } });
  const restoreMs = ms(start);
  start = performance.now();
  const done = await again.resume(true);
  const resumeMs = ms(start);
  if (!done.done || done.result.error) throw new Error("resume failed");
  console.log(`${label}: run to the pause ${firstMs} ms; log ${log.length} entries (${calls} calls, ${mb(writes)} MB written); saved ${mb(bytes.length)} MB in ${saveMs} ms; restore ${restoreMs} ms; resume (replay + rest) ${resumeMs} ms`);
  await again.sandbox.dispose();
  await sb.dispose();
}

console.log(`node ${process.version}, compression ${DEFAULT_COMPRESSION === Compression.zstd ? "zstd" : "brotli (quality 3)"}, load average ${loadavg().map((l) => l.toFixed(1)).join(" ")}`);
await (await Sandbox.create({ pool })).dispose(); // warm the worker
await measure("bare sandbox", "pass");
await measure("json+decimal+sqlite3, 10 MB list", "import json, decimal, sqlite3\nbig = list(range(2_500_000))\nimport sys; assert sys.getsizeof(big) >= 10_000_000");
await measurePause("pause right away", "x = 1");
await measurePause("pause after importing json, decimal, sqlite3", "import json, decimal, sqlite3");
await measurePause("pause after 2M loop iterations", "for i in range(2_000_000): pass");
console.log(`load average after: ${loadavg().map((l) => l.toFixed(1)).join(" ")}`);
await pool.close();
