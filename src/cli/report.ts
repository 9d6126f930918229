// How a run's result becomes what the pyvisor command prints and its exit
// status: the guest's own status, python's traceback on stderr, and one
// `pyvisor: ...` line when a limit was tripped or the sandbox failed.
import type { RunResult, TraceEntry } from "../api/index.js";
import { ErrorType } from "../api/index.js";
import type { CliOptions, Program } from "./args.js";

/** The exit statuses pyvisor itself chooses (documented in --help and docs/cli.md). */
export const EXIT = {
  /** An uncaught Python exception, as with python. */
  exception: 1,
  /** Bad usage: unknown option, bad value, missing file. */
  usage: 2,
  /** The wall-clock (--timeout) or CPU-time (--cpu-time) limit. */
  time: 124,
  /** stdout or stderr passed --output-limit (the rest was cut). */
  output: 125,
  /** The sandbox crashed: its engine died, trapped or broke the protocol. */
  crashed: 126,
  /** Interrupted by Ctrl-C / SIGINT (128 + 2, as a shell reports it). */
  interrupted: 130,
} as const;

export function formatSeconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))}s`;
}

export function formatSize(bytes: number): string {
  for (const [unit, scale] of [["G", 1024 ** 3], ["M", 1024 ** 2], ["K", 1024]] as const) {
    if (bytes >= scale && bytes % scale === 0) return `${bytes / scale}${unit}`;
  }
  return `${bytes} bytes`;
}

/** What to print after a run and the status to exit with. */
export interface Verdict {
  exitCode: number;
  /** Python's traceback (or "KeyboardInterrupt\n") for stderr; "" for none. */
  traceback: string;
  /** A `pyvisor: ...` line for stderr (without newline), or null. */
  message: string | null;
  /** The run ended by SystemExit / os._exit (the console leaves on it). */
  exited: boolean;
}

const RUNPY_FRAME = /^ {2}File "<frozen runpy>", line \d+, in \S+\n/gm;

/** `python FILE` shows no runpy frames: pyvisor runs files through runpy, so drop them. */
export function pythonTraceback(traceback: string, kind: Program["kind"] | "console"): string {
  return kind === "file" ? traceback.replace(RUNPY_FRAME, "") : traceback;
}

/**
 * A stopped guest keeps being interrupted while it unwinds, so its own report
 * of the stop may be mangled (the driver's or the console's frames show): use
 * it only when it is a plain python traceback. The console shows none.
 */
function stopTraceback(traceback: string, kind: Program["kind"] | "console"): string {
  if (kind === "console" || traceback.includes("/_pyvisor.py\"") || traceback.includes("During handling")) return "";
  return pythonTraceback(traceback, kind);
}

function keyboardInterrupt(traceback: string, kind: Program["kind"] | "console"): string {
  const clean = stopTraceback(traceback, kind);
  return clean.endsWith("KeyboardInterrupt\n") ? clean : "KeyboardInterrupt\n";
}

/** The run was stopped by the controller (a limit, a cancel, a crash), not ended by the program. */
export function wasStopped(result: RunResult): boolean {
  const type = result.error?.type;
  return type === ErrorType.Timeout || type === ErrorType.Cancelled || type === ErrorType.OutputLimit || type === ErrorType.Crashed;
}

/** `cancelled`: the host cancelled the run (a repeated Ctrl-C), as opposed to the guest's own KeyboardInterrupt. */
export function judge(result: RunResult, options: CliOptions, kind: Program["kind"] | "console", cancelled: boolean): Verdict {
  const error = result.error;
  const verdict = (exitCode: number, traceback: string, message: string | null, exited = false): Verdict => ({ exitCode, traceback, message, exited });
  const sigint = error?.type === ErrorType.Crashed && error.message.includes("(SIGINT)");
  if (sigint || (cancelled && (error === null || error.type === ErrorType.Cancelled || error.type === ErrorType.Crashed))) {
    // A terminal's Ctrl-C also reaches the worker processes (same process group): a crash then is the interrupt.
    return verdict(EXIT.interrupted, keyboardInterrupt(error?.traceback ?? "", kind), null);
  }
  if (error === null) return verdict(result.exitCode, "", null, result.exitCode !== 0 || result.value === null);
  const traceback = pythonTraceback(error.traceback, kind);
  switch (error.type) {
    case ErrorType.Timeout:
      return error.limit === "cpuTime"
        ? verdict(EXIT.time, stopTraceback(error.traceback, kind), `pyvisor: CPU time limit of ${formatSeconds(options.cpuTimeMs ?? 0)} exceeded (raise it with --cpu-time)`)
        : verdict(EXIT.time, stopTraceback(error.traceback, kind), `pyvisor: time limit of ${formatSeconds(options.timeoutMs)} exceeded (raise it with --timeout)`);
    case ErrorType.OutputLimit:
      return verdict(EXIT.output, "", `pyvisor: output limit of ${formatSize(options.outputLimitBytes)} exceeded, the rest was cut (raise it with --output-limit)`);
    case ErrorType.Cancelled:
      return verdict(EXIT.interrupted, keyboardInterrupt(error.traceback, kind), null);
    case ErrorType.Crashed:
    case ErrorType.Trap:
    case ErrorType.Protocol:
      return verdict(EXIT.crashed, "", `pyvisor: the sandbox crashed (${error.type}: ${error.message.trim().split("\n")[0]})`);
    case ErrorType.Driver:
      return verdict(EXIT.exception, "", `pyvisor: ${error.message}`);
    case ErrorType.Conversion:
      // Only --json asks for the program's value; one that cannot be converted is simply not reported.
      if (result.exitCode === 0) return verdict(0, "", null);
      break;
  }
  // python ends on an unhandled KeyboardInterrupt as if killed by SIGINT, which a shell reports as 130.
  if (error.type === "KeyboardInterrupt") return verdict(EXIT.interrupted, traceback, null);
  if (kind === "module" && error.type === "ImportError" && pythonTraceback(error.traceback, "file") === "Traceback (most recent call last):\n" + `ImportError: ${error.message}\n`) {
    // `python -m nosuch` prints one line, not runpy's traceback.
    return verdict(result.exitCode || EXIT.exception, "", `pyvisor: ${error.message}`);
  }
  return verdict(result.exitCode || EXIT.exception, traceback, null);
}

/**
 * One JSON line per system call; bigint arguments become numbers (or strings
 * past 2^53). Paths are guest text: every character past ASCII is a \u escape
 * too (JSON.stringify leaves U+2028, U+0085 and friends raw, and some line
 * readers split on them), so a line is always exactly one entry.
 */
export function traceLines(trace: readonly TraceEntry[]): string {
  return trace.map((entry) => JSON.stringify(entry, (_key, value: unknown) => {
    if (typeof value !== "bigint") return value;
    return value <= BigInt(Number.MAX_SAFE_INTEGER) && value >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(value) : value.toString();
  }).replace(/[\u007f-\uffff]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}`) + "\n").join("");
}
