// Spawn cost, measured in one run against native python3 and Pyodide:
//   - warm latency of a fresh sandbox + print(1) (median, p99), threads and processes
//   - fresh sandboxes per second on all cores
//   - memory per idle sandbox
//   - cold CLI `pyvisor -c "print(1)"`
//   npm run bench:spawn            (add --quick for fewer iterations)
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { availableParallelism } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Pool, Sandbox, runPython, type Isolation } from "../../src/api/index.js";
import { writeFigures } from "../options.js";
import { memoryPerIdleSandbox } from "../memory.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
const quick = process.argv.includes("--quick");
const N = quick ? 50 : 300;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const p99 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * 0.99))]!;
const ms = (x: number) => `${x.toFixed(1)} ms`;

async function warmLatency(isolation: Isolation): Promise<number[]> {
  const pool = new Pool({ size: 1, isolation });
  await (await Sandbox.create({ pool })).dispose(); // the engine makes its snapshot
  const times: number[] = [];
  for (let i = 0; i < N; i++) {
    const start = performance.now();
    const sandbox = await Sandbox.create({ pool });
    const result = await sandbox.run("print(1)");
    times.push(performance.now() - start);
    if (result.stdout !== "1\n") throw new Error(`unexpected output ${JSON.stringify(result.stdout)}`);
    await sandbox.dispose();
    await new Promise((resolve) => setImmediate(resolve)); // let the engine restore the next one
  }
  await pool.close();
  return times;
}

async function throughput(isolation: Isolation, seconds: number): Promise<number> {
  const size = availableParallelism();
  const pool = new Pool({ size, isolation });
  await Promise.all(Array.from({ length: size }, async () => (await Sandbox.create({ pool })).dispose()));
  let done = 0;
  const end = performance.now() + seconds * 1000;
  await Promise.all(Array.from({ length: size * 2 }, async () => {
    while (performance.now() < end) {
      const sandbox = await Sandbox.create({ pool });
      await sandbox.run("print(1)");
      await sandbox.dispose();
      done++;
    }
  }));
  await pool.close();
  return done / seconds;
}

/** The path the README shows: runPython, and Sandbox.create + run + dispose, on the default pool (no pool named). */
async function defaultPath(): Promise<{ runPython: number[]; sandbox: number[] }> {
  for (let i = 0; i < 20; i++) await runPython("print(1)"); // the default pool starts and warms up
  const times = { runPython: [] as number[], sandbox: [] as number[] };
  for (let i = 0; i < N; i++) {
    let start = performance.now();
    const result = await runPython("print(1)");
    times.runPython.push(performance.now() - start);
    if (result.stdout !== "1\n") throw new Error(`unexpected output ${JSON.stringify(result.stdout)}`);
    start = performance.now();
    const sandbox = await Sandbox.create();
    await sandbox.run("print(1)");
    await sandbox.dispose();
    times.sandbox.push(performance.now() - start);
  }
  return times;
}


function timeCommand(command: string, args: string[], runs: number, env: NodeJS.ProcessEnv = process.env): number[] {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    const result = spawnSync(command, args, { encoding: "utf8", env });
    times.push(performance.now() - start);
    if (result.status !== 0 || !result.stdout.includes("1")) throw new Error(`${command} ${args.join(" ")} failed: ${result.stderr}`);
  }
  return times;
}

// Pyodide in a fresh node process: time from process start to print(1) done
// (performance.now() counts from the process's start), then fresh instances in the same process.
const PYODIDE_SCRIPT = `
const { loadPyodide } = await import("pyodide");
const py = await loadPyodide();
py.runPython("print(1)");
const cold = performance.now();
const warm = [];
for (let i = 0; i < 3; i++) {
  const s = performance.now();
  const fresh = await loadPyodide();
  fresh.runPython("1");
  warm.push(performance.now() - s);
}
console.error(JSON.stringify({ cold, warm }));
`;

function pyodide(): { cold: number; fresh: number } | null {
  if (!existsSync(join(ROOT, "node_modules", "pyodide"))) return null;
  const result = spawnSync(process.execPath, ["--input-type=module", "-e", PYODIDE_SCRIPT], { cwd: ROOT, encoding: "utf8" });
  if (result.status !== 0) return null;
  const { cold, warm } = JSON.parse(result.stderr.trim().split("\n").pop()!) as { cold: number; warm: number[] };
  return { cold, fresh: median(warm) };
}

console.log(`pyvisor spawn benchmark on Node ${process.version}, ${availableParallelism()} cores, ${N} iterations\n`);
const thread = await warmLatency("thread");
const proc = await warmLatency("process");
console.log(`warm fresh sandbox + print(1), threads:   median ${ms(median(thread))}, p99 ${ms(p99(thread))}`);
console.log(`warm fresh sandbox + print(1), processes: median ${ms(median(proc))}, p99 ${ms(p99(proc))}`);
const byDefault = await defaultPath();
console.log(`default pool: runPython("print(1)") median ${ms(median(byDefault.runPython))}, p99 ${ms(p99(byDefault.runPython))}; Sandbox.create + run + dispose median ${ms(median(byDefault.sandbox))}`);
const rateThreads = await throughput("thread", quick ? 2 : 5);
const rateProcesses = await throughput("process", quick ? 2 : 5);
console.log(`fresh sandboxes per second on all cores: ${rateThreads.toFixed(0)} (threads), ${rateProcesses.toFixed(0)} (processes)`);
const perSandbox = await memoryPerIdleSandbox(quick ? 10 : 40, "print(1)");
console.log(`memory per idle sandbox: ${(perSandbox / 2 ** 20).toFixed(1)} MiB`);

const cliRuns = quick ? 3 : 10;
// The CLI keeps its snapshot on disk: one run first so that it exists (a first-ever start boots CPython).
timeCommand(process.execPath, [join(ROOT, "bin", "pyvisor.js"), "-c", "print(1)"], 1);
const cli = timeCommand(process.execPath, [join(ROOT, "bin", "pyvisor.js"), "-c", "print(1)"], cliRuns);
const cliThread = timeCommand(process.execPath, [join(ROOT, "bin", "pyvisor.js"), "--isolation", "thread", "-c", "print(1)"], cliRuns);
console.log(`cold CLI pyvisor -c "print(1)": median ${ms(median(cli))} (default: engine in the CLI process), ${ms(median(cliThread))} (--isolation thread)`);
// The machine's python3 binary itself, not a version-manager shim in front of it.
const python3 = existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
const native = timeCommand(python3, ["-c", "print(1)"], cliRuns);
console.log(`native ${python3} -c "print(1)": median ${ms(median(native))}`);
const nativeBuild = join(ROOT, "engine", ".build", "src", "cpython", "cross-build", "build", "python");
const nativeSame = existsSync(nativeBuild) ? median(timeCommand(nativeBuild, ["-c", "print(1)"], cliRuns)) : null;
if (nativeSame !== null) console.log(`native CPython 3.13.5 (same source) -c "print(1)": median ${ms(nativeSame)}`);
const pyo = pyodide();
if (pyo) console.log(`Pyodide: cold node process to print(1) ${ms(pyo.cold)}; another loadPyodide in the same process ${ms(pyo.fresh)}`);
else console.log("Pyodide: not installed (npm install) or failed to load");

console.log("\nratios (lower is better for pyvisor):");
console.log(`  warm fresh sandbox (threads) vs native python3 process: ${(median(thread) / median(native)).toFixed(3)}x`);
if (pyo) console.log(`  warm fresh sandbox (threads) vs a fresh Pyodide in-process: ${(median(thread) / pyo.fresh).toFixed(4)}x`);
console.log(`  cold CLI vs native python3: ${(median(cli) / median(native)).toFixed(2)}x`);
if (pyo) console.log(`  cold CLI vs Pyodide cold process: ${(median(cli) / pyo.cold).toFixed(2)}x`);
writeFigures(process.argv, {
  node: process.version, warmThreadMs: median(thread), warmProcessMs: median(proc),
  defaultRunPythonMs: median(byDefault.runPython), defaultSandboxMs: median(byDefault.sandbox), ratesPerSecond: { threads: rateThreads, processes: rateProcesses },
  idleSandboxMiB: perSandbox / 2 ** 20, coldCliMs: median(cli), nativePython3Ms: median(native), pyodide: pyo,
});
console.log("\ngoals: <= 2 ms warm, >= 500 sandboxes/s, <= 16 MiB per idle sandbox, <= 150 ms cold CLI");
