// pyvisor's public surface. test/api/surface.test.ts pins it.
export { Sandbox, PausedRun, runPython, type RunResult, type RunError, type RunStep } from "./sandbox.js";
export { Template } from "./template.js";
export { Pool, type PoolOptions, type Isolation } from "../pool/pool.js";
export type { SandboxOptions, RunOptions, MountOption, HostFunction, TemplateOptions, TemplateSandboxOptions } from "./options.js";
export {
  ErrorType, PyvisorError, InvalidOptionsError, DisposedError, SandboxCrashedError, SandboxFsError, PackageError, TemplateDisposedError, TemplateSetupError, type LimitName, type CrashKind,
  SnapshotIntegrityError, SnapshotVersionError, SnapshotEngineError, SnapshotMountError, SnapshotFormatError,
} from "../shared/errors.js";
export type { PolicySpec, PolicyRule } from "../shared/spec.js";
export type { TraceEntry } from "../shared/run.js";
export { DEFAULTS, defaultSnapshotCacheDir, ENGINE_NAMES, type EngineName } from "../shared/defaults.js";
export { parseSize } from "../shared/checks.js";
export { checkMemoryLimit } from "./options.js";
export { versions, type Versions } from "./versions.js";
export { toJSON, type ToJSONOptions } from "./json.js";
