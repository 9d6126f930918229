// Ten sandboxes at once: one loops forever, one allocates without bound, one
// floods stdout, seven do real work. Prints each outcome, its time, and the
// host's timer latency while they ran (the host's event loop must stay free).
//   npm run build && node dist/bench/isolation/ten-sandboxes.js [--isolation thread]
import { Pool, Sandbox, type RunResult } from "../../src/api/index.js";

const isolation = process.argv.includes("--isolation") ? (process.argv[process.argv.indexOf("--isolation") + 1] as "thread" | "process") : "process";
const TIMEOUT_MS = 2000;
const pool = new Pool({ size: 2, isolation });

const work = (i: number) => `import hashlib, json\nd = {str(k): k * k for k in range(20000 + ${i})}\nh = hashlib.sha256(json.dumps(d).encode()).hexdigest()\nsum(d.values()) % 1000003`;
const jobs: Array<{ name: string; code: string; expect: (r: RunResult) => boolean; options?: object }> = [
  { name: "infinite loop", code: "while True: pass", expect: (r) => r.error?.type === "TimeoutError" },
  { name: "unbounded allocation", code: "x = []\nwhile True: x.append(bytearray(1 << 20))", expect: (r) => r.error?.type === "MemoryError", options: { memoryLimit: "128M" } },
  { name: "stdout flood", code: "while True: print('flood' * 100)", expect: (r) => r.error?.type === "OutputLimitError", options: { outputLimit: 1 << 20 } },
  ...Array.from({ length: 7 }, (_, i) => ({
    name: `worker ${i + 1}`, code: work(i),
    expect: (r: RunResult) => r.error === null && r.value === Array.from({ length: 20000 + i }, (_, k) => k * k).reduce((a, b) => a + b, 0) % 1000003,
  })),
];

// Timer latency: how late a 10 ms interval fires while the guests compute.
const lateness: number[] = [];
let last = performance.now();
const timer = setInterval(() => {
  const now = performance.now();
  lateness.push(now - last - 10);
  last = now;
}, 10);

const start = performance.now();
const results = await Promise.all(jobs.map(async (job) => {
  const sandbox = await Sandbox.create({ pool, timeout: TIMEOUT_MS, ...(job.options ?? {}) });
  const t = performance.now();
  const result = await sandbox.run(job.code);
  const ms = performance.now() - t;
  await sandbox.dispose();
  return { job, result, ms };
}));
clearInterval(timer);

let ok = true;
for (const { job, result, ms } of results) {
  const pass = job.expect(result);
  ok &&= pass;
  console.log(`${pass ? "ok  " : "FAIL"} ${job.name.padEnd(22)} ${String(result.error?.type ?? `value=${String(result.value)}`).padEnd(20)} ${ms.toFixed(0).padStart(6)} ms`);
}
lateness.sort((a, b) => a - b);
const pct = (p: number) => lateness[Math.min(lateness.length - 1, Math.floor(p * lateness.length))]!.toFixed(1);
console.log(`\nisolation=${isolation}, pool of 2, limit ${TIMEOUT_MS} ms (+500 ms grace); all done in ${(performance.now() - start).toFixed(0)} ms`);
console.log(`host timer lateness over ${lateness.length} ticks: median ${pct(0.5)} ms, p99 ${pct(0.99)} ms, max ${lateness[lateness.length - 1]!.toFixed(1)} ms`);
await pool.close();
process.exit(ok ? 0 : 1);
