// The hard stop of one run inside its worker thread, sparing the thread and
// the other sandboxes it hosts. Two ways, both unwinding the guest's wasm
// stack so that its interpreter is abandoned:
// - a guest that swallows its stop in Python still reaches the tick hook,
//   which throws HardStop when the host asks for it (GuestSandbox);
// - a guest in one long C call never does, so each run is called under V8's
//   watchdog (node:vm's `timeout`), which terminates the JavaScript and wasm
//   running on this thread when the run's deadline plus the grace passes, and
//   lets the thread go on. Terminating a thread or a process would also end
//   every other sandbox on it.
import { Script } from "node:vm";

/** The run was hard-stopped: its sandbox (interpreter and kernel) must be discarded. */
export class HardStop extends Error {
  constructor() {
    super("the run ignored its stop and was hard-stopped");
  }
}

/** Where the watched script finds the call (a guest cannot reach this thread's globals). */
const SLOT = Symbol.for("pyvisor.watchedCall");
const CALL = new Script(`globalThis[Symbol.for("pyvisor.watchedCall")]()`);
/** vm's timeout is an unsigned 32-bit count of ms. */
const MAX_WATCH_MS = 2 ** 32 - 1;

/**
 * Calls `fn`, terminated (HardStop) if it is still running after `ms`. What
 * it was doing is cut short without its `finally` blocks: the caller must
 * discard everything `fn` was changing.
 */
export function runWatched<T>(fn: () => T, ms: number): T {
  const global = globalThis as unknown as Record<symbol, (() => T) | undefined>;
  global[SLOT] = fn;
  try {
    return CALL.runInThisContext({ timeout: Math.min(MAX_WATCH_MS, Math.max(1, Math.ceil(ms))) }) as T;
  } catch (error) {
    if ((error as { code?: unknown } | null)?.code === "ERR_SCRIPT_EXECUTION_TIMEOUT") throw new HardStop();
    throw error;
  } finally {
    global[SLOT] = undefined;
  }
}
