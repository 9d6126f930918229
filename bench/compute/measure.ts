// Measures one benchmark in pyvisor, in a fresh process, and prints one JSON
// line. run.ts spawns it as `node [v8 flags] measure.js <benchmark>`: a fresh
// process per benchmark is what makes the cold figure honest, because V8
// keeps compiled (and tiered-up) wasm code for the life of the process.
//
// The engine runs in-process, no worker, as the kernel tests do.
import { Kernel } from "../../src/kernel/kernel.js";
import { Channel } from "../../src/kernel/channel.js";
import { loadEngine, Interpreter } from "../../src/engine/engine.js";
import { encodeValue, decodeValue } from "../../src/shared/codec.js";
import { BENCHMARKS, runs } from "./programs.js";

export interface Measurement {
  name: string;
  /** WebAssembly.Module compile plus stdlib image load. */
  loadMs: number;
  /** Interpreter.boot: instantiation and CPython start-up. */
  bootMs: number;
  /** In-Python figures of the three runs: cold (k=1), warm-up (k=1), steady (best of K). */
  coldMs: number;
  warmupMs: number;
  steadyMs: number;
}

interface RunResult {
  value: unknown;
  error: { type: string; message: string; traceback: string } | null;
  exitCode: number;
}

function measure(name: string): Measurement {
  const bench = BENCHMARKS.find((b) => b.name === name);
  if (bench === undefined) throw new Error(`unknown benchmark ${name}`);

  let t = performance.now();
  const engine = loadEngine();
  const loadMs = performance.now() - t;

  const channel = new Channel();
  // Guest output goes to stderr: stdout carries only our JSON line.
  const kernel = new Kernel({
    stdlib: engine.stdlib, mounts: [], files: {}, diskQuotaBytes: 1e8, inodeQuota: 1e4, maxOpenFiles: 64, trace: false, channel,
    onOutput: () => { for (const { chunk } of kernel.output.take()) process.stderr.write(chunk); }, cancelRequested: () => false,
    env: { HOME: "/home/user" }, cwd: "/home/user", deterministic: false, seed: 1,
  });
  t = performance.now();
  const { interpreter, status } = Interpreter.boot(engine.module, kernel.imports(), 1024 * 1024 * 1024, (m) => kernel.attachMemory(m));
  const bootMs = performance.now() - t;
  if (status !== 0) throw new Error(`engine init failed with status ${status}`);

  // Each run is a new call into pyvisor_run, hence into CPython's eval loop:
  // only new calls pick up the code V8 has tiered up in the meantime.
  const run = (code: string): number => {
    let result: RunResult | undefined;
    channel.handlers = {
      call: () => new Uint8Array(),
      done: (payload) => { result = decodeValue(payload) as RunResult; },
      protocolError: (message) => { throw new Error(message); },
    };
    channel.reset(encodeValue({ code, filename: `<bench ${name}>`, cwd: "/home/user" }));
    kernel.beginRun(new Uint8Array(), { wallDeadlineMs: Infinity, cpuBudgetMs: Infinity, tickBudget: Infinity, outputLimitBytes: 1e7 });
    interpreter.run();
    if (result === undefined) throw new Error(`${name}: the run ended without a result`);
    if (result.error !== null) throw new Error(`${name}: ${result.error.traceback || result.error.message}`);
    return result.value as number;
  };

  const [cold, warmup, steady] = runs(bench);
  return { name, loadMs, bootMs, coldMs: run(cold!), warmupMs: run(warmup!), steadyMs: run(steady!) };
}

process.stdout.write(JSON.stringify(measure(process.argv[2] ?? "")) + "\n");
