// The scientific engine (numpy) measured in one run:
//   - a fresh sandbox running `np.arange(10).sum()` on a warm pool (median, p99), and the cold CLI
//   - memory per idle sandbox (scientific vs default engine, same process)
//   - compute against native numpy (2.2.4 from the same source tree, built for the native CPython
//     3.13.5 of `npm run conformance`, with the wasm32 build's options: no SIMD, no BLAS)
//   npm run bench:scientific [-- --quick] [--native-python PATH] [--native-site DIR]
// The native numpy is the one `npm run conformance:numpy` builds (its cache, see that script).
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { homedir, loadavg } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Pool, Sandbox } from "../../src/api/index.js";
import { writeFigures } from "../options.js";
import { memoryPerIdleSandbox } from "../memory.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
const args = process.argv.slice(2);
const quick = args.includes("--quick");
const N = quick ? 30 : 200;
const PROGRAM = "import numpy as np\nprint(np.arange(10).sum())";

const option = (name: string): string | undefined => { const at = args.indexOf(`--${name}`); return at >= 0 ? args[at + 1] : undefined; };
const CACHE = process.env.PYVISOR_CONFORMANCE_CACHE ?? join(homedir(), ".cache/pyvisor/conformance");
const NATIVE_PYTHON = option("native-python") ?? process.env.PYVISOR_NATIVE_PYTHON ?? join(CACHE, "build/python");

const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
const median = (xs: number[]) => sorted(xs)[Math.floor(xs.length / 2)]!;
const p99 = (xs: number[]) => sorted(xs)[Math.min(xs.length - 1, Math.floor(xs.length * 0.99))]!;
const load = () => `load ${loadavg().map((x) => x.toFixed(2)).join(" ")}`;

function fail(message: string): never {
  process.stderr.write(`bench:scientific: ${message}\n`);
  process.exit(1);
}

/** The site directory of the native numpy that conformance:numpy installed. */
function nativeSite(): string {
  const given = option("native-site");
  if (given) return given;
  const lib = join(CACHE, "numpy-native/install/usr/local/lib");
  const found = existsSync(lib) ? readdirSync(lib, { recursive: true, encoding: "utf8" }).find((p) => p.endsWith("-packages/numpy/__init__.py")) : undefined;
  if (!found) fail(`no native numpy under ${lib}: run \`npm run conformance:numpy -- numpy/fft/tests/test_helper.py\` once (it builds it), or pass --native-site`);
  return dirname(dirname(join(lib, found)));
}

async function warmSpawn(): Promise<number[]> {
  const pool = new Pool({ size: 1, isolation: "thread", engine: "scientific" });
  await (await Sandbox.create({ pool })).dispose(); // the engine makes its snapshot
  const times: number[] = [];
  for (let i = 0; i < N; i++) {
    const start = performance.now();
    const sandbox = await Sandbox.create({ pool });
    const result = await sandbox.run(PROGRAM);
    times.push(performance.now() - start);
    if (result.stdout !== "45\n") fail(`unexpected output ${JSON.stringify(result.stdout)} ${result.error?.message ?? ""}`);
    await sandbox.dispose();
    await new Promise((resolve) => setImmediate(resolve));
  }
  await pool.close();
  return times;
}

function coldCli(runs: number): number[] {
  const times: number[] = [];
  for (let i = 0; i <= runs; i++) {
    const start = performance.now();
    const r = spawnSync(process.execPath, [join(ROOT, "bin/pyvisor.js"), "--engine", "scientific", "-c", PROGRAM], { encoding: "utf8" });
    const elapsed = performance.now() - start;
    if (r.status !== 0 || r.stdout !== "45\n") fail(`pyvisor --engine scientific failed: ${r.stderr}`);
    if (i > 0) times.push(elapsed); // the first run may write the on-disk snapshot
  }
  return times;
}


// One script for both sides: each benchmark's best time over REPS after one warm-up, in ms (perf_counter).
const COMPUTE = `
import json, time
import numpy as np
rng = np.random.default_rng(0)
a = rng.random((200, 200))
x = rng.random(1_000_000)
y = rng.random(1_000_000)
s = rng.random(200_000)
benchmarks = {
    "matmul 200x200": lambda: a @ a,
    "elementwise 1e6": lambda: np.sqrt(x * y + 1.0) - x / (y + 1.0),
    "sort 2e5": lambda: np.sort(s),
    "reduction 1e6": lambda: (x.sum(), x.std(), x.max()),
}
REPS = 7
out = {}
for name, work in benchmarks.items():
    work()
    best = float("inf")
    for _ in range(REPS):
        t = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - t)
    out[name] = best * 1000
print(json.dumps(out))
`;

async function computeRatios(): Promise<Record<string, { native: number; pyvisor: number; ratio: number }>> {
  const native = spawnSync(NATIVE_PYTHON, ["-c", COMPUTE], { encoding: "utf8", env: { ...process.env, PYTHONPATH: nativeSite() } });
  if (native.status !== 0) fail(`native numpy failed: ${native.stderr}`);
  const pool = new Pool({ size: 1, isolation: "thread", engine: "scientific" });
  const sandbox = await Sandbox.create({ pool, memoryLimit: "1G", timeout: 300_000 });
  const result = await sandbox.run(COMPUTE);
  await sandbox.dispose();
  await pool.close();
  if (result.error) fail(`pyvisor compute failed: ${result.error.type}: ${result.error.message}`);
  const n = JSON.parse(native.stdout.trim().split("\n").at(-1)!) as Record<string, number>;
  const p = JSON.parse(result.stdout.trim().split("\n").at(-1)!) as Record<string, number>;
  return Object.fromEntries(Object.keys(n).map((k) => [k, { native: n[k]!, pyvisor: p[k]!, ratio: p[k]! / n[k]! }]));
}

async function main(): Promise<void> {
  if (!existsSync(NATIVE_PYTHON)) fail(`no native CPython at ${NATIVE_PYTHON} (npm run conformance builds it; or --native-python)`);
  console.log(`bench:scientific (${quick ? "quick" : "full"}), Node ${process.version}; the machine is shared: each line has the load average beside it\n`);

  const warm = await warmSpawn();
  console.log(`fresh sandbox + np.arange(10).sum(), warm pool (thread): median ${median(warm).toFixed(1)} ms, p99 ${p99(warm).toFixed(1)} ms (n=${N}; ${load()})`);
  const cli = coldCli(quick ? 5 : 15);
  console.log(`cold CLI pyvisor --engine scientific -c ...:            median ${median(cli).toFixed(0)} ms (n=${cli.length}; ${load()})`);
  const memScientific = await memoryPerIdleSandbox(quick ? 10 : 30, PROGRAM, "scientific");
  const memDefault = await memoryPerIdleSandbox(quick ? 10 : 30, "print(45)", "default");
  console.log(`memory per idle sandbox: scientific ${(memScientific / 2 ** 20).toFixed(1)} MiB, default ${(memDefault / 2 ** 20).toFixed(1)} MiB (RSS delta, threads; ${load()})`);

  const compute = await computeRatios();
  console.log(`\ncompute: best of 7 after a warm-up, in-Python perf_counter ms (${load()})`);
  console.log(`  ${"benchmark".padEnd(18)}${"native ms".padStart(11)}${"pyvisor ms".padStart(12)}${"ratio".padStart(9)}`);
  for (const [name, c] of Object.entries(compute)) {
    console.log(`  ${name.padEnd(18)}${c.native.toFixed(2).padStart(11)}${c.pyvisor.toFixed(2).padStart(12)}${`${c.ratio.toFixed(2)}x`.padStart(9)}`);
  }
  writeFigures(args, {
    warmSpawnMs: { median: median(warm), p99: p99(warm) }, coldCliMs: median(cli),
    idleSandboxBytes: { scientific: memScientific, default: memDefault }, compute, loadavg: loadavg(),
  });
}

await main();
