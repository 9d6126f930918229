// Runs Python inside our engine, in-process, through the product's own run
// driver (src/worker/guest-sandbox.ts), as a worker thread runs it but
// without the thread: the kernel and attack tests exercise the same driver
// as users. Booting costs ~200 ms, so test files share a guest where state
// does not matter.
import { GuestSandbox, type ThreadServices } from "../../src/worker/guest-sandbox.js";
import type { Kernel } from "../../src/kernel/kernel.js";
import type { Interpreter } from "../../src/engine/engine.js";
import { decodeValue } from "../../src/shared/codec.js";
import { GUEST_HOME } from "../../src/shared/defaults.js";
import type { StopReason } from "../../src/shared/run.js";
import type { MountSpec, PolicySpec } from "../../src/shared/spec.js";

export { GUEST_HOME };

export interface GuestOptions {
  mounts?: MountSpec[];
  files?: Record<string, Uint8Array>;
  diskQuotaBytes?: number;
  inodeQuota?: number;
  maxOpenFiles?: number;
  memoryLimitBytes?: number;
  env?: Record<string, string>;
  cwd?: string;
  deterministic?: boolean;
  policy?: PolicySpec;
  /** Host functions (pyvisor.call(name, ...)): each gets the kernel and the decoded arguments, and returns the encoded answer. */
  functions?: Record<string, (kernel: Kernel, args: unknown[]) => Uint8Array>;
  /** Locks on host files asked of a pool host (SandboxSpec.lockOwner): this sandbox's owner id, and the host's answer to each "lock" call. */
  hostLocks?: { owner: number; answer(payload: Uint8Array): Uint8Array };
}

export interface RunOptions {
  timeoutMs?: number;
  outputLimitBytes?: number;
  stdin?: Uint8Array;
}

export interface GuestError {
  type: string;
  message: string;
  traceback: string;
}

export interface RunResult {
  value: unknown;
  error: GuestError | null;
  exitCode: number;
  stdout: string;
  stderr: string;
  stopReason: StopReason | null;
  /** False when the guest never sent its "done" frame. */
  done: boolean;
  /** Set when the guest unwound out of the interpreter (a wasm trap or proc_exit); the driver then starts a new one. */
  trap: string | null;
}

export interface Guest {
  readonly kernel: Kernel;
  readonly interpreter: Interpreter;
  run(code: string, options?: RunOptions): RunResult;
  /** Runs `code` and returns its value, failing with the guest's traceback on an error. */
  value(code: string, options?: RunOptions): unknown;
}

export function startGuest(options: GuestOptions = {}): Guest {
  const functions = options.functions ?? {};
  const output: Record<1 | 2, Uint8Array[]> = { 1: [], 2: [] };
  const services: ThreadServices = {
    call: (_runId, kind, payload) => {
      if (kind === "lock") return options.hostLocks?.answer(payload) ?? new Uint8Array(0);
      if (kind !== "function") return new Uint8Array(0);
      const { name, args } = decodeValue(payload) as { name: string; args: unknown[] };
      return functions[name]!(sandbox.kernel, args);
    },
    output: (_runId, segments) => {
      for (const { fd, chunk } of segments) output[fd].push(chunk);
    },
    cancelRequested: () => false,
    interruptRequested: () => false,
    stopRequested: () => false,
    hardStopGraceMs: 500,
    takeInterpreter: () => null,
  };
  const sandbox = new GuestSandbox({
    memoryLimitBytes: options.memoryLimitBytes ?? 256 * 1024 * 1024,
    mounts: options.mounts ?? [],
    env: options.env ?? { HOME: GUEST_HOME },
    files: options.files ?? {},
    cwd: options.cwd ?? GUEST_HOME,
    diskQuotaBytes: options.diskQuotaBytes ?? 1e8,
    inodeQuota: options.inodeQuota ?? 1e4,
    maxOpenFiles: options.maxOpenFiles ?? 64,
    deterministic: options.deterministic ?? false,
    seed: 1,
    policy: options.policy ?? {},
    trace: false,
    functions: Object.keys(functions),
    ...(options.hostLocks !== undefined ? { lockOwner: options.hostLocks.owner } : {}),
  }, services);
  const text = (fd: 1 | 2) => Buffer.concat(output[fd].splice(0)).toString("utf8");
  let runId = 0;

  const run = (code: string, runOptions: RunOptions = {}): RunResult => {
    const outcome = sandbox.run(++runId, {
      request: { kind: "code", code, filename: "<string>", argv: ["<string>"], mode: "auto", inputs: null, printErrors: false },
      stdin: runOptions.stdin ?? new Uint8Array(), stdinStream: false,
      timeoutMs: runOptions.timeoutMs ?? 10_000, queuedAtEpochMs: 0, cpuTimeMs: Infinity, tickLimit: Infinity,
      outputLimitBytes: runOptions.outputLimitBytes ?? 1e6,
    });
    const result = outcome.result === null ? undefined : decodeValue(outcome.result) as { value: unknown; error: GuestError | null; exitCode: number };
    return {
      value: result?.value ?? null,
      error: result?.error ?? null,
      exitCode: result?.exitCode ?? -1,
      stdout: text(1),
      stderr: text(2),
      stopReason: outcome.stopReason,
      done: result !== undefined,
      trap: outcome.trap ?? (outcome.exitCode !== null ? `proc_exit(${outcome.exitCode})` : null),
    };
  };

  const value = (code: string, runOptions?: RunOptions): unknown => {
    const result = run(code, runOptions);
    if (!result.done) throw new Error(`the guest did not finish the run (trap ${result.trap}); stderr:\n${result.stderr}`);
    if (result.error !== null) throw new Error(`guest raised ${result.error.type}: ${result.error.message}\n${result.error.traceback}`);
    return result.value;
  };

  return {
    get kernel() { return sandbox.kernel; },
    get interpreter() { return sandbox.interpreter!; },
    run, value,
  };
}

/** Python source for a string literal (JSON strings are valid Python literals for our inputs). */
export function py(text: string): string {
  return JSON.stringify(text);
}

/** Python helper for tests: `err(f, *args)` names the errno f raised (e.g. "ENOENT"), or None when it succeeded. */
export const PY_ERR = `
import os, errno
def err(f, *args, **kwargs):
    try:
        f(*args, **kwargs)
    except OSError as e:
        return errno.errorcode.get(e.errno, e.errno)
    return None
`;
