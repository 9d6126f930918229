// Starting a worker process, and starting one early. A worker process takes
// most of a cold CLI's time before the engine even loads (Node's own start,
// then the worker thread and its modules): bin/pyvisor.js starts one before it
// loads the CLI, the two start side by side, and the CLI's pool adopts it.
// The process waits for its options (process-main.ts), so it is the same
// process whichever pool adopts it; one nobody adopts ends with the CLI.
// Kept apart from links.ts so that the early start loads nothing else.
import type { ChildProcess } from "node:child_process";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const PROCESS_ENTRY = fileURLToPath(new URL("./process-main.js", import.meta.url));

/** A worker process; its options follow as its first message ({ type: "init" }). */
export function forkWorkerProcess(execArgv: string[]): ChildProcess {
  // node:child_process, loaded with the first worker process (a pool of threads or the inline CLI never needs it).
  const { fork } = createRequire(import.meta.url)("node:child_process") as typeof import("node:child_process");
  return fork(PROCESS_ENTRY, [String(process.pid)], {
    serialization: "advanced",
    stdio: ["ignore", "ignore", "pipe", "ipc"],
    execArgv,
    env: {}, // the worker needs nothing from the host's environment
  });
}

let early: ChildProcess | null = null;

/**
 * Starts a worker process now, for the first process pool of this process to
 * adopt (see takeEarlyWorkerProcess). It does not keep this process alive.
 */
export function startEarlyWorkerProcess(): void {
  if (early !== null) return;
  early = forkWorkerProcess([]);
  early.on("error", () => undefined); // a failed early start only means the pool forks its own
  for (const handle of [early, early.channel, early.stderr] as Array<{ unref?(): void } | null | undefined>) handle?.unref?.();
}

/** The early worker process, once, if it is still there and `execArgv` is what it was started with (none). */
export function takeEarlyWorkerProcess(execArgv: string[]): ChildProcess | null {
  const child = early;
  if (child === null || execArgv.length > 0) return null;
  early = null;
  if (child.exitCode !== null || child.signalCode !== null || !child.connected) {
    child.kill("SIGKILL");
    return null;
  }
  child.removeAllListeners("error");
  return child;
}
