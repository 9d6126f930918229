// pyvisor's public surface. test/api/surface.test.ts pins it.
export { Sandbox, runPython, type RunResult, type RunError } from "./sandbox.js";
export { Pool, type PoolOptions, type Isolation } from "../pool/pool.js";
export type { SandboxOptions, RunOptions, MountOption, HostFunction } from "./options.js";
export { ErrorType, PyvisorError, InvalidOptionsError, DisposedError, SandboxCrashedError, SandboxFsError, type LimitName, type CrashKind } from "../shared/errors.js";
export type { PolicySpec, PolicyRule } from "../shared/spec.js";
export type { TraceEntry } from "../shared/run.js";
export { DEFAULTS, defaultSnapshotCacheDir, ENGINE_NAMES, type EngineName } from "../shared/defaults.js";
export { parseSize } from "../shared/checks.js";
export { checkMemoryLimit } from "./options.js";
export { versions, type Versions } from "./versions.js";
export { toJSON, type ToJSONOptions } from "./json.js";
