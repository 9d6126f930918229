// Measures one benchmark in pyvisor, in a fresh process, and prints one JSON
// line. run.ts spawns it as `node [v8 flags] measure.js <benchmark>`: a fresh
// process per benchmark is what makes the cold figure honest, because V8
// keeps compiled (and tiered-up) wasm code for the life of the process.
//
// The engine runs in-process, no worker, through the product's run driver
// (as the kernel tests do).
import { loadEngine } from "../../src/engine/engine.js";
import { stdlibTree } from "../../src/vfs/image.js";
import { decodeValue } from "../../src/shared/codec.js";
import { GUEST_HOME } from "../../src/shared/defaults.js";
import { GuestSandbox } from "../../src/worker/guest-sandbox.js";
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
  stdlibTree(loadEngine());
  const loadMs = performance.now() - t;

  // Guest output goes to stderr: stdout carries only our JSON line.
  t = performance.now();
  const sandbox = new GuestSandbox({
    memoryLimitBytes: 1024 * 1024 * 1024, mounts: [], env: { HOME: GUEST_HOME }, files: {}, cwd: GUEST_HOME,
    diskQuotaBytes: 1e8, inodeQuota: 1e4, maxOpenFiles: 64, deterministic: false, seed: 1, policy: {}, trace: false, functions: [],
  }, {
    call: () => new Uint8Array(0),
    output: (_runId, segments) => { for (const { chunk } of segments) process.stderr.write(chunk); },
    cancelRequested: () => false,
    interruptRequested: () => false,
    stopRequested: () => false,
    hardStopGraceMs: 500,
    takeInterpreter: () => null,
  });
  const bootMs = performance.now() - t;

  // Each run is a new call into pyvisor_run, hence into CPython's eval loop:
  // only new calls pick up the code V8 has tiered up in the meantime.
  let runId = 0;
  const run = (code: string): number => {
    const outcome = sandbox.run(++runId, {
      request: { kind: "code", code, filename: `<bench ${name}>`, argv: [`<bench ${name}>`], mode: "auto", inputs: null, printErrors: false },
      stdin: new Uint8Array(), stdinStream: false, timeoutMs: Infinity, queuedAtEpochMs: 0, cpuTimeMs: Infinity, tickLimit: Infinity, outputLimitBytes: 1e7,
    });
    const result = outcome.result === null ? undefined : decodeValue(outcome.result) as RunResult;
    if (result === undefined) throw new Error(`${name}: the run ended without a result (${outcome.trap ?? outcome.protocolError ?? outcome.stopReason})`);
    if (result.error !== null) throw new Error(`${name}: ${result.error.traceback || result.error.message}`);
    return result.value as number;
  };

  const [cold, warmup, steady] = runs(bench);
  return { name, loadMs, bootMs, coldMs: run(cold!), warmupMs: run(warmup!), steadyMs: run(steady!) };
}

process.stdout.write(JSON.stringify(measure(process.argv[2] ?? "")) + "\n");
