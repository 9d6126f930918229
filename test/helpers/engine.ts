// Runs Python inside our engine, in-process: one Kernel + one Interpreter per
// guest, driven exactly like the worker drives it (request over the channel,
// pyvisor_run, result back over the channel). Booting costs ~200 ms, so test
// files share a guest where state does not matter.
import { Kernel, ProcExit, type StopReason } from "../../src/kernel/kernel.js";
import { Channel } from "../../src/kernel/channel.js";
import { loadEngine, Interpreter } from "../../src/engine/engine.js";
import { encodeValue, decodeValue } from "../../src/shared/codec.js";
import type { MountSpec } from "../../src/vfs/tree.js";
import type { PolicySpec } from "../../src/policy/policy.js";

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
  /** Answers the guest's host-function calls (pyvisor.call): gets the decoded arguments, returns the encoded answer. */
  call?: (kernel: Kernel, args: unknown[]) => Uint8Array;
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
  /** What pyvisor_run returned (-1 when the driver itself failed). */
  status: number;
  /** False when the guest never sent its "done" frame. */
  done: boolean;
  /** Set when the guest unwound out of the interpreter (a wasm trap or proc_exit): it cannot run again. */
  trap: string | null;
}

export interface Guest {
  kernel: Kernel;
  interpreter: Interpreter;
  run(code: string, options?: RunOptions): RunResult;
  /** Runs `code` and returns its value, failing with the guest's traceback on an error. */
  value(code: string, options?: RunOptions): unknown;
}

export const GUEST_HOME = "/home/user";

export function startGuest(options: GuestOptions = {}): Guest {
  const engine = loadEngine();
  const channel = new Channel();
  const kernel = new Kernel({
    stdlib: engine.stdlib,
    mounts: options.mounts ?? [],
    files: options.files ?? {},
    diskQuotaBytes: options.diskQuotaBytes ?? 1e8,
    inodeQuota: options.inodeQuota ?? 1e4,
    maxOpenFiles: options.maxOpenFiles ?? 64,
    ...(options.policy !== undefined ? { policy: options.policy } : {}),
    trace: false,
    channel,
    cancelRequested: () => false,
    env: options.env ?? { HOME: GUEST_HOME },
    cwd: options.cwd ?? GUEST_HOME,
    deterministic: options.deterministic ?? false,
    seed: 1,
  });
  const { interpreter, status } = Interpreter.boot(engine.module, kernel.imports(), options.memoryLimitBytes ?? 256 * 1024 * 1024, (m) => kernel.attachMemory(m));
  if (status !== 0) throw new Error(`interpreter failed to start (status ${status}): ${kernel.stderr.text()}`);

  const env = options.env ?? { HOME: GUEST_HOME };
  const cwd = options.cwd ?? GUEST_HOME;
  // The first request tells the driver to take this sandbox's cwd and environment (as the worker does).
  let fresh = true;
  let dead: string | null = null;

  const run = (code: string, runOptions: RunOptions = {}): RunResult => {
    if (dead !== null) throw new Error(`this guest cannot run any more: ${dead}`);
    let result: { value: unknown; error: GuestError | null; exitCode: number } | undefined;
    channel.handlers = {
      call: (payload) => options.call?.(kernel, (decodeValue(payload) as { args: unknown[] }).args) ?? new Uint8Array(),
      done: (payload) => { result = decodeValue(payload) as typeof result; },
      protocolError: (message) => { throw new Error(`protocol error: ${message}`); },
    };
    channel.reset(encodeValue({ code, filename: "<string>", fresh, env, cwd }));
    fresh = false;
    kernel.beginRun(runOptions.stdin ?? new Uint8Array(), {
      wallDeadlineMs: performance.now() + (runOptions.timeoutMs ?? 10_000),
      cpuBudgetMs: Infinity,
      tickBudget: Infinity,
      outputLimitBytes: runOptions.outputLimitBytes ?? 1e6,
    });
    let runStatus = -1;
    let trap: string | null = null;
    try {
      runStatus = interpreter.run();
    } catch (error) {
      trap = error instanceof ProcExit ? `proc_exit(${error.code})` : String(error);
      dead = trap;
    }
    return {
      value: result?.value ?? null,
      error: result?.error ?? null,
      exitCode: result?.exitCode ?? -1,
      stdout: kernel.stdout.text(),
      stderr: kernel.stderr.text(),
      stopReason: kernel.stopReason,
      status: runStatus,
      done: result !== undefined,
      trap,
    };
  };

  const value = (code: string, runOptions?: RunOptions): unknown => {
    const result = run(code, runOptions);
    if (!result.done) throw new Error(`the guest did not finish the run (status ${result.status}, trap ${result.trap}); stderr:\n${result.stderr}`);
    if (result.error !== null) throw new Error(`guest raised ${result.error.type}: ${result.error.message}\n${result.error.traceback}`);
    return result.value;
  };

  return { kernel, interpreter, run, value };
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
