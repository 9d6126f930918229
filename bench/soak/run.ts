// `node dist/bench/soak/run.js [--sequential N] [--concurrent M]`: N runs one
// after another on one sandbox, then M runs at once on M sandboxes, on the
// default (process) pool; prints the host's RSS and open fds, and the worker
// processes' number, RSS and open fds, at the start and the end (flat means no leak). Not
// part of `npm test`: the defaults (10,000 and 1,000) take minutes.
import { readdirSync, readFileSync } from "node:fs";
import { Pool, Sandbox } from "../../src/api/index.js";
import { numberOption } from "../options.js";

const args = process.argv.slice(2);
const option = (name: string, fallback: number): number => numberOption(args, name, fallback);
const sequential = option("sequential", 10_000);
const concurrent = option("concurrent", 1_000);

function workers(): number[] {
  return readdirSync("/proc").filter((p) => /^\d+$/.test(p)).map(Number).filter((pid) => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1] === String(process.pid)
        && readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("process-main");
    } catch {
      return false;
    }
  });
}
function rssMiB(pid: number | "self"): number {
  const line = readFileSync(`/proc/${pid}/status`, "utf8").split("\n").find((l) => l.startsWith("VmRSS:"));
  return Number(line?.split(/\s+/)[1] ?? 0) / 1024;
}
function fds(pid: number | "self"): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return 0; // a worker that exited between the listing and now
  }
}
function snapshot(label: string): void {
  const pids = workers();
  const workerRss = pids.reduce((n, pid) => n + rssMiB(pid), 0);
  const workerFds = pids.reduce((n, pid) => n + fds(pid), 0);
  console.log(`${label.padEnd(28)} host RSS ${rssMiB("self").toFixed(0)} MiB, host fds ${fds("self")}, `
    + `worker processes ${pids.length} (RSS ${workerRss.toFixed(0)} MiB, fds ${workerFds})`);
}

const pool = new Pool();
const sb = await Sandbox.create({ pool });
await sb.run("n = 0");
snapshot("start");
let start = performance.now();
let failures = 0;
for (let i = 0; i < sequential; i++) {
  const r = await sb.run("n += 1\nprint(n)");
  if (r.error !== null) failures++;
}
console.log(`${sequential} sequential runs: ${((performance.now() - start) / sequential).toFixed(2)} ms each, ${failures} failed`);
snapshot(`after ${sequential} sequential`);
start = performance.now();
const results = await Promise.all(Array.from({ length: concurrent }, async (_, i) => {
  await using s = await Sandbox.create({ pool });
  return await s.run(`print(${i})\n${i}`);
}));
const wrong = results.filter((r, i) => r.value !== i || r.stdout !== `${i}\n`).length;
console.log(`${concurrent} concurrent runs (one sandbox each): ${(performance.now() - start).toFixed(0)} ms, ${wrong} wrong`);
snapshot(`after ${concurrent} concurrent`);
await sb.dispose();
await pool.close();
await new Promise((r) => setTimeout(r, 500));
snapshot("after pool.close()");
