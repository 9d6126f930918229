// Templates: a setup run once in a fresh interpreter, its state captured
// (interpreter memory, in-memory files, the kernel's clock), and sandboxes
// started from that state in about the time of a bare one.
//
// Where a template lives: the setup runs on one worker of the pool, which
// captures the state; the host keeps a copy and installs it in every worker
// (a worker that replaces a dead one gets it with its first sandbox of the
// template), so a template's sandboxes are placed like any other, on the
// least-loaded worker. Each worker keeps interpreters of the template
// restored ahead of demand (PoolOptions.warmInterpreters).
import { createHash } from "node:crypto";
import { PyvisorError, SandboxCrashedError, TemplateDisposedError, TemplateSetupError, InvalidOptionsError } from "../shared/errors.js";
import type { TemplateState } from "../shared/protocol.js";
import { getDefaultPool, type Pool } from "../pool/pool.js";
import { Sandbox } from "./sandbox.js";
import {
  checkTemplateSandboxOptions, resolveSandboxOptions, resolveTemplateOptions,
  type SandboxOptions, type TemplateOptions, type TemplateSandboxOptions,
} from "./options.js";

let nextTemplateId = 1;

export class Template implements AsyncDisposable {
  private current: { id: number; state: TemplateState };
  private disposed = false;
  /** Sandboxes made from the current state, and since when it serves (refresh). */
  private made = 0;
  private sinceMs = performance.now();
  private refreshing = false;
  private readonly timer: NodeJS.Timeout | null;
  /** How many times the setup was re-run in the background (TemplateOptions.refresh). */
  refreshes = 0;

  private constructor(
    private readonly pool: Pool,
    private readonly setup: string,
    private readonly options: SandboxOptions,
    private readonly refresh: { sandboxes: number; ms: number } | null,
    first: { id: number; state: TemplateState },
  ) {
    this.current = first;
    this.timer = refresh === null ? null : setInterval(() => this.refreshIfDue(), Math.min(refresh.ms, 60_000));
    this.timer?.unref();
  }

  /**
   * Runs `options.setup` once in a fresh sandbox (with the other options) and
   * captures its state. A setup that raises, exits with a non-zero status, hits
   * a limit or leaves a file open rejects with TemplateSetupError (with its
   * traceback and output). On a pool with a snapshot cache, a template without
   * mounts, packages or host functions is looked up there first (keyed by the engine,
   * the setup and the options) and stored there after its setup.
   */
  static async create(options: TemplateOptions): Promise<Template> {
    const { setup, refresh, sandbox } = resolveTemplateOptions(options);
    const pool = sandbox.pool ?? getDefaultPool(sandbox.engine);
    // What a mount, a package or a host function gives the setup may change without its name changing: not cached.
    const cacheKey = sandbox.mounts?.length || sandbox.packages?.length || Object.keys(sandbox.functions ?? {}).length ? null : keyOf(setup, sandbox);
    const id = nextTemplateId++;
    const state = (cacheKey === null ? null : await pool.lookup(id, cacheKey)) ?? await prepare(pool, id, setup, sandbox, cacheKey);
    return new Template(pool, setup, sandbox, refresh, { id, state });
  }

  /** False once disposed. */
  get alive(): boolean {
    return !this.disposed;
  }

  /** Bytes of interpreter memory each sandbox of the template starts with (its memoryLimit must hold them). */
  get memoryBytes(): number {
    return this.current.state.memoryBytes;
  }

  /**
   * A new sandbox that starts where the setup ended: its globals, its
   * imports, its files (each sandbox's own copy, copied on write). It takes
   * its own working directory, environment and random state at its first
   * run. Options given here replace the template's of the same name.
   */
  async sandbox(options: TemplateSandboxOptions = {}): Promise<Sandbox> {
    if (this.disposed) throw new TemplateDisposedError();
    // The template's `files` are in its captured state already, as the setup left them: not laid down again.
    const { files: _files, ...inherited } = this.options;
    const resolved = resolveSandboxOptions({ ...inherited, ...checkTemplateSandboxOptions(options) });
    const template = this.current;
    if (resolved.spec.memoryLimitBytes < template.state.memoryBytes) {
      throw new InvalidOptionsError("memoryLimit", `memoryLimit (${mib(resolved.spec.memoryLimitBytes)}) is smaller than the template's memory (${mib(template.state.memoryBytes)}): the setup's state would not fit`);
    }
    this.made++;
    this.refreshIfDue();
    const sandbox = await Sandbox.fromTemplate(resolved, template);
    if (this.disposed) {
      await sandbox.dispose();
      this.pool.drop(template.id);
      throw new TemplateDisposedError();
    }
    return sandbox;
  }

  /** Re-runs the setup in the background when the current state is due (see TemplateOptions.refresh). */
  private refreshIfDue(): void {
    if (this.refresh === null || this.refreshing || this.disposed || this.made === 0) return;
    if (this.made < this.refresh.sandboxes && performance.now() - this.sinceMs < this.refresh.ms) return;
    this.refreshing = true;
    const id = nextTemplateId++;
    prepare(this.pool, id, this.setup, this.options, null).then((state) => {
      if (this.disposed) return this.pool.drop(id);
      const old = this.current;
      this.current = { id, state };
      this.refreshes++;
      this.pool.drop(old.id);
    }, () => {
      // The setup failed this time (it depends on something that changed): the current state serves on, and is tried again when due.
    }).finally(() => {
      this.refreshing = false;
      this.made = 0;
      this.sinceMs = performance.now();
    });
  }

  /** Frees the template's state in every worker; its sandboxes live on. Using it afterwards throws TemplateDisposedError. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    if (this.timer !== null) clearInterval(this.timer);
    this.pool.drop(this.current.id);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }
}

/** Runs the setup in a new sandbox and captures its state as template `id`. */
async function prepare(pool: Pool, id: number, setup: string, options: SandboxOptions, cacheKey: string | null): Promise<TemplateState> {
  // Booted, not restored: the template's hash secret is its own, not its worker's.
  const sandbox = await Sandbox.booted({ ...options, pool });
  try {
    const result = await sandbox.runSetup(setup, {});
    if (result.error !== null || result.exitCode !== 0) {
      const error = result.error ?? { type: "SystemExit", message: `the setup exited with status ${result.exitCode}`, traceback: "" };
      throw new TemplateSetupError(error.type, error.message, error.traceback, result.stdout, result.stderr);
    }
    try {
      return await sandbox.capture(id, cacheKey);
    } catch (error) {
      if (error instanceof PyvisorError && !(error instanceof SandboxCrashedError)) throw new TemplateSetupError("CaptureError", error.message, "", result.stdout, result.stderr);
      throw error;
    }
  } finally {
    await sandbox.dispose();
  }
}

/** The cache key of a template: its setup and options (files by their sha256). */
function keyOf(setup: string, options: SandboxOptions): string {
  const { files, pool: _pool, functions: _functions, ...rest } = options;
  const fileHashes = Object.entries(files ?? {}).sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([path, data]) => [path, createHash("sha256").update(data).digest("hex")]);
  return createHash("sha256").update(JSON.stringify({ version: 1, setup, options: sortKeys(rest), files: fileHashes })).digest("hex");
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value === null || typeof value !== "object") return value;
  return Object.fromEntries(Object.entries(value).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => [k, sortKeys(v)]));
}

const mib = (bytes: number) => `${(bytes / 1048576).toFixed(1)} MiB`;
