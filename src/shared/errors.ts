/**
 * The error codes of pyvisor, one enum, each documented. `RunError.type` in a run
 * result is either a Python exception name (guest failures) or one of the
 * limit/crash codes below.
 */
export const ErrorType = {
  /** The run's wall-clock limit (`timeout`) or CPU budget (`cpuTime`) expired. */
  Timeout: "TimeoutError",
  /** The guest ran out of its memory limit and did not recover. */
  Memory: "MemoryError",
  /** stdout or stderr exceeded `outputLimitBytes`; output was cut at the limit. */
  OutputLimit: "OutputLimitError",
  /** The worker that hosted the sandbox died (V8 crash, hard stop); state is lost. */
  Crashed: "SandboxCrashedError",
  /** The guest trapped (stack exhaustion in C, unreachable): the interpreter is reset. */
  Trap: "EngineTrapError",
  /** The run was cancelled by the host (`AbortSignal`, Ctrl-C). */
  Cancelled: "CancelledError",
  /** A value crossing the boundary could not be converted. */
  Conversion: "ConversionError",
  /** The guest broke the channel protocol (garbage frames). */
  Protocol: "ProtocolError",
  /**
   * The program broke pyvisor's driver inside the sandbox (changed its
   * modules or functions) so that the run ended without a result; the
   * interpreter was restarted (globals are gone) and the next run works.
   */
  Driver: "DriverError",
  /**
   * A paused run, re-executed to rebuild its stack (PausedRun), made a
   * different call than the one its log holds at that point: the run cannot
   * go on (the engine or the saved bytes are not the ones it ran with). The
   * sandbox is reset.
   */
  ReplayDivergence: "ReplayDivergenceError",
} as const;
export type ErrorTypeName = (typeof ErrorType)[keyof typeof ErrorType];

/**
 * Which limit stopped a run (`RunError.limit`), named as its option:
 * `timeout`, `cpuTime` and `tickLimit` (TimeoutError), `output`
 * (OutputLimitError: `outputLimit`), `memory` (MemoryError: `memoryLimit`).
 */
export type LimitName = "timeout" | "cpuTime" | "tickLimit" | "output" | "memory";

/**
 * How a sandbox crashed (`RunError.crash`): `worker` its worker process or
 * thread died (SandboxCrashedError); `trap` the interpreter trapped
 * (EngineTrapError); `protocol` the guest broke the channel protocol or sent a
 * malformed result (ProtocolError); `noResult` the run ended without sending one.
 */
export type CrashKind = "worker" | "trap" | "protocol" | "noResult";

/** Thrown (rejected) only for host misuse: bad options, a disposed sandbox. */
export class PyvisorError extends Error {
  override name = "PyvisorError";
}
/**
 * A bad option or argument (wrong type, out of range, unknown name, or a
 * combination that would make every run fail). `option` names it as written
 * in the options object: "timeout", "mounts[0].guest", "policy.deny[1]",
 * "functions[\"f\"]"; for `sb.fs` calls, the argument ("path", "data").
 */
export class InvalidOptionsError extends PyvisorError {
  override name = "InvalidOptionsError";
  constructor(readonly option: string, message: string) {
    super(message);
  }
}
export class DisposedError extends PyvisorError {
  override name = "DisposedError";
  constructor(what = "sandbox") {
    super(`this ${what} has been disposed`);
  }
}
/** @internal An sb.fs operation refused by the sandbox's VFS, on its way to the API (which adds the path and syscall). */
export class FsErrno extends PyvisorError {
  constructor(readonly errno: number, message: string) {
    super(message);
  }
}
/**
 * An `sb.fs` call failed in the sandbox's file system, as Node's `fs` fails:
 * `code` is the POSIX name ("ENOENT"), `errno` the sandbox's (WASI) number,
 * `syscall` the operation ("open", "mkdir", "scandir", "stat", "rm") and `path`
 * the sandbox path; the message reads like Node's
 * ("ENOENT: no such file or directory, open '/nope'").
 */
export class SandboxFsError extends PyvisorError {
  override name = "SandboxFsError";
  constructor(readonly code: string, readonly errno: number, readonly syscall: string, readonly path: string, description: string) {
    super(`${code}: ${description}, ${syscall} '${path}'`);
  }
}
/**
 * The worker that held a sandbox died (a hard stop of a run on it, or a
 * crash) while a host-side operation on the sandbox waited for it: the
 * sandbox's state is lost; its next call re-creates it fresh.
 */
export class SandboxCrashedError extends PyvisorError {
  override name = ErrorType.Crashed;
  constructor(reason: string) {
    super(`the sandbox's worker died (${reason}); its state is lost`);
  }
}
/**
 * A package named in `packages` (a wheel, a zip archive or a directory) that
 * cannot be used, found before any sandbox starts: `path` is the file as
 * given, `reason` the cause ("compiled extension: x/_speedups.so (...)", "bad
 * RECORD hash for x/__init__.py", ...). Its `option` is the entry of
 * `packages` ("packages[1]"), so it is an InvalidOptionsError too.
 */
export class PackageError extends InvalidOptionsError {
  override name = "PackageError";
  constructor(option: string, readonly path: string, readonly reason: string) {
    super(option, `package ${path}: ${reason}`);
  }
}
/** A template used after `dispose()`. */
export class TemplateDisposedError extends DisposedError {
  override name = "TemplateDisposedError";
  constructor() {
    super("template");
  }
}
/**
 * A template's setup failed: it raised (`type`, `message` and `traceback`
 * are the Python exception's), exited with a non-zero status, hit a limit,
 * or left the sandbox in a state that cannot be captured (a file still open:
 * `type` is "CaptureError"). `stdout` and `stderr` are what it wrote.
 */
export class TemplateSetupError extends PyvisorError {
  override name = "TemplateSetupError";
  constructor(readonly type: string, readonly reason: string, readonly traceback: string, readonly stdout: string, readonly stderr: string) {
    super(`the template's setup failed: ${type}: ${reason}${traceback ? `\n${traceback}` : ""}`);
  }
}

/**
 * Saved bytes (sb.save, paused.save) that are not intact: not a pyvisor
 * snapshot, truncated, changed, or sealed with another key. Nothing of them
 * reached an engine.
 */
export class SnapshotIntegrityError extends PyvisorError {
  override name = "SnapshotIntegrityError";
}
/** Intact saved bytes in a format this pyvisor cannot read (another format version, or zstd on a Node without it). */
export class SnapshotVersionError extends PyvisorError {
  override name = "SnapshotVersionError";
}
/** Intact saved bytes made by another engine (python.wasm, stdlib or guest module differ): memory is only meaningful to the engine that wrote it. */
export class SnapshotEngineError extends SnapshotVersionError {
  override name = "SnapshotEngineError";
}
/** The restoring side's mounts are not the saved sandbox's (guest paths and modes must match; host paths may differ). */
export class SnapshotMountError extends PyvisorError {
  override name = "SnapshotMountError";
}
/** Authenticated saved bytes whose contents do not describe a sandbox (a writer's bug): refused field by field. */
export class SnapshotFormatError extends PyvisorError {
  override name = "SnapshotFormatError";
}

const SNAPSHOT_ERRORS = { SnapshotIntegrityError, SnapshotVersionError, SnapshotEngineError, SnapshotMountError, SnapshotFormatError };

/** @internal The snapshot error a worker reported by name (errors cross processes as data), or null for another. */
export function snapshotErrorOf(name: string | undefined, message: string): PyvisorError | null {
  const Class = name !== undefined && Object.hasOwn(SNAPSHOT_ERRORS, name) ? SNAPSHOT_ERRORS[name as keyof typeof SNAPSHOT_ERRORS] : null;
  return Class === null ? null : new Class(message);
}
