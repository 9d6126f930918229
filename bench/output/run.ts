// `node dist/bench/output/run.js [--prints N] [--repeat R]`: what printing
// costs in pyvisor against /usr/bin/python3, measured in the same run.
// - CLI: `pyvisor -c CODE` and `python3 -c CODE` with stdout to a pipe, minus
//   the same command running `pass` (start-up), so the ratio is the prints'
//   own cost; totals are printed too.
// - API: `sb.run(CODE)` on a warm sandbox of the default (process) pool
//   against the native prints' own cost.
// - 1-byte writes: a megabyte written one byte at a time (each flushed), its
//   time and the worker's output memory.
// Each figure is the median of R rounds (default 5), interleaved so that load
// from other processes hits every configuration alike.
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Pool, Sandbox } from "../../src/api/index.js";
import { numberOption } from "../options.js";

const args = process.argv.slice(2);
const option = (name: string, fallback: number): number => numberOption(args, name, fallback);
const prints = option("prints", 20_000);
const repeat = option("repeat", 5);
const PYTHON = "/usr/bin/python3";
const BIN = fileURLToPath(new URL("../../../bin/pyvisor.js", import.meta.url));
const CODE = `for i in range(${prints}): print(i)`;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** Wall time of a command, stdout to a pipe (read and dropped). */
function timed(command: string, argv: string[]): number {
  const start = performance.now();
  const result = spawnSync(command, argv, { stdio: ["ignore", "pipe", "inherit"], maxBuffer: 1 << 30 });
  const ms = performance.now() - start;
  if (result.status !== 0) throw new Error(`${command} ${argv.join(" ")} exited ${result.status}`);
  return ms;
}

const samples: Record<string, number[]> = {};
const add = (name: string, ms: number) => (samples[name] ??= []).push(ms);

const pool = new Pool();
const sb = await Sandbox.create({ pool });
await sb.run("pass");
for (let round = 0; round < repeat; round++) {
  add("python prints", timed(PYTHON, ["-c", CODE]));
  add("python pass", timed(PYTHON, ["-c", "pass"]));
  add("cli prints", timed(process.execPath, [BIN, "-c", CODE]));
  add("cli pass", timed(process.execPath, [BIN, "-c", "pass"]));
  let start = performance.now();
  const result = await sb.run(CODE);
  add("api prints", performance.now() - start);
  if (result.error !== null || !result.stdout.endsWith(`${prints - 1}\n`)) throw new Error("the API run failed");
  start = performance.now();
  await sb.run("pass");
  add("api pass", performance.now() - start);
}
const oneByte = await sb.run("import sys\nfor _ in range(1 << 20):\n    sys.stdout.write('x')\n    sys.stdout.flush()", { timeout: 600_000 });
await sb.dispose();
await pool.close();

const m = Object.fromEntries(Object.entries(samples).map(([name, values]) => [name, median(values)]));
const nativeOwn = m["python prints"]! - m["python pass"]!;
const cliOwn = m["cli prints"]! - m["cli pass"]!;
const apiOwn = m["api prints"]! - m["api pass"]!;
const fmt = (ms: number) => `${ms.toFixed(0)} ms`;
console.log(`${prints} print() calls, median of ${repeat} rounds, stdout to a pipe`);
console.log(`  python3 total ${fmt(m["python prints"]!)} (start-up ${fmt(m["python pass"]!)}), prints' own cost ${fmt(nativeOwn)}`);
console.log(`  CLI     total ${fmt(m["cli prints"]!)} (start-up ${fmt(m["cli pass"]!)}), prints' own cost ${fmt(cliOwn)}: ratio ${(cliOwn / nativeOwn).toFixed(2)}x native`);
console.log(`  API     run ${fmt(m["api prints"]!)} (an empty run ${fmt(m["api pass"]!)}), prints' own cost ${fmt(apiOwn)}: ratio ${(apiOwn / nativeOwn).toFixed(2)}x native`);
console.log(`  totals: CLI ${(m["cli prints"]! / m["python prints"]!).toFixed(2)}x python3 (start-up included)`);
console.log(`1 MiB written one byte at a time, each flushed (API): ${fmt(oneByte.stats.wallMs)}, ${oneByte.error?.type ?? "ok"}, ${oneByte.stdout.length} bytes back`);
