// The kernel of one sandbox: its fd table, file tree, identity (environment,
// clocks, randomness), policy, and the control state of the current run
// (deadlines, tick budget, cancellation). The syscalls themselves live in
// syscalls-*.ts, one short function each; `imports()` builds the wasm import
// object, wrapped so that nothing a guest does can throw into the host.
import { RIGHTS_ALL, RIGHTS_DIR, RIGHTS_PIPE } from "../shared/wasi.js";
import { Errno, ERRNO_NAMES } from "../shared/errno.js";
import { Policy } from "../policy/policy.js";
import type { MountSpec, PolicySpec } from "../shared/spec.js";
import { StreamDevice } from "../vfs/devices.js";
import { VfsError, type DirNode, type MountContext } from "../vfs/node.js";
import { buildTree, type SandboxTree, type TreeImage } from "../vfs/tree.js";
import type { MemDir } from "../vfs/memory.js";
import { FdTable, type OpenFile } from "./fds.js";
import { GuestFault, GuestMemory, InvalidUtf8, PathTooLong } from "./memory.js";
import { InputSource, OutputLog, OutputSink, type StdinPull } from "./stdio.js";
import { Identity, type IdentitySpec } from "./identity.js";
import { fdSyscalls } from "./syscalls-fd.js";
import { pathSyscalls } from "./syscalls-path.js";
import { processSyscalls } from "./syscalls-process.js";
import { lockKeyOf, lockSyscalls } from "./syscalls-lock.js";
import { SandboxLocks, type HostLocks } from "./locks.js";
import type { StreamOps } from "../vfs/devices.js";
import { Trace } from "./trace.js";
import { ProcExit } from "./exit.js";
import type { StopReason } from "../shared/run.js";



/** Eval-breaker checks between two calls of tick() (the engine's default). */
export const TICK_INTERVAL = 1000;
/**
 * Syscalls that can wait on the host (stdin, host calls over the channel,
 * sleeps): a stop asked for meanwhile is noticed when they return, so that the
 * guest's very next eval-breaker check raises it. Others (stat, open, ...) need
 * no check of their own: tick() sees the stop within TICK_INTERVAL checks.
 */
const BLOCKING_SYSCALLS = new Set(["fd_read", "fd_write", "fd_pread", "fd_pwrite", "poll_oneoff", "sched_yield"]);
/** How often tick() calls the owner's periodic hook. */
export const PERIODIC_MS = 50;
/** Minimum time between two interrupts of a stopped run. */
export const INTERRUPT_SPACING_MS = 100;

/** Why the controller stopped a run; reported as the run's error type. */

export interface KernelSpec extends IdentitySpec {
  stdlib: MemDir;
  /** The packages' shared trees, laid at SITE_PACKAGES_PATH (vfs/tree.ts). */
  packages?: MemDir[];
  mounts: MountSpec[];
  files: Record<string, Uint8Array>;
  /** Files laid down before `files` (a template's: see captureTree). */
  base?: TreeImage;
  diskQuotaBytes: number;
  inodeQuota: number;
  maxOpenFiles: number;
  policy?: PolicySpec;
  trace: boolean;
  channel: StreamOps;
  /** Called after each write to stdout or stderr (the owner decides when to take a batch from `output`). */
  onOutput?: () => void;
  /** Returns true when the host asked to cancel the current run. */
  cancelRequested: () => boolean;
  /** Returns true (once per request) when the host asked to raise KeyboardInterrupt in the current run. */
  interruptRequested?: () => boolean;
  /** Called about every PERIODIC_MS while the guest computes or sleeps (e.g. to flush batched output). */
  periodic?: () => void;
  /** Called before the guest blocks in a sleep (e.g. so that output written before it reaches the host now). */
  beforeWait?: () => void;
  /** The pool host's lock table, for host files (see locks.ts); without it, this realm's. */
  hostLocks?: HostLocks;
}

export interface RunLimits {
  wallDeadlineMs: number; // performance.now() based; Infinity when unlimited
  cpuBudgetMs: number;    // guest compute time; Infinity when unlimited
  tickBudget: number;     // eval-breaker checks; Infinity when unlimited
  outputLimitBytes: number;
}

export class Kernel {
  readonly fds: FdTable;
  readonly locks: SandboxLocks;
  readonly tree: SandboxTree;
  readonly identity: Identity;
  readonly policy: Policy;
  readonly stdin = new InputSource();
  /** stdout and stderr in write order. */
  readonly output: OutputLog;
  readonly stdout: OutputSink;
  readonly stderr: OutputSink;
  readonly trace: Trace | null;
  /** Set by path syscalls for the trace: the resolved path of the current call. */
  tracePath: string | undefined;
  private memoryRef: GuestMemory | null = null;

  // Run control.
  limits: RunLimits = { wallDeadlineMs: Infinity, cpuBudgetMs: Infinity, tickBudget: Infinity, outputLimitBytes: Infinity };
  stopReason: StopReason | null = null;
  ticks = 0;
  /** Time the guest spent outside its own computation (host calls, sleeps) in this run. */
  hostMs = 0;
  runStartMs = 0;
  private lastInterruptMs = -Infinity;
  private lastPeriodicMs = 0;
  private hurried = false;
  /** A KeyboardInterrupt asked for and not yet raised (it does not stop the run: the guest may catch it). */
  private interruptPending = false;
  /** Set by the owner of the interpreter: changes how often tick() is called. */
  tickControl: { setInterval(interval: number): void } | null = null;

  constructor(private readonly spec: KernelSpec) {
    this.identity = new Identity(spec);
    this.policy = new Policy(spec.policy);
    this.locks = new SandboxLocks(this, spec.hostLocks ?? null);
    this.fds = new FdTable(spec.maxOpenFiles, (entry) => this.locks.closed(lockKeyOf(entry)));
    this.trace = spec.trace ? new Trace() : null;
    this.output = new OutputLog(spec.onOutput ?? null, () => this.requestStop("output"));
    this.stdout = new OutputSink(this.output, 1);
    this.stderr = new OutputSink(this.output, 2);
    this.tree = buildTree({
      stdlib: spec.stdlib, packages: spec.packages, mounts: spec.mounts, files: spec.files, cwd: spec.cwd, ...(spec.base !== undefined ? { base: spec.base } : {}),
      diskQuotaBytes: spec.diskQuotaBytes, inodeQuota: spec.inodeQuota, deterministic: spec.deterministic,
      now: () => this.identity.realtimeNs(), random: (b) => this.identity.fillRandom(b),
    });
    this.openStdio();
  }

  /**
   * fds 0-2 are the run's stdio, fd 3 the preopened root "/"; the driver's
   * channel sits outside the table (CHANNEL_FD). At the start of every run
   * fds 0-3 are put back as they were: a program that closed or replaced them
   * (os.closerange, a loop of closes) breaks only its own run.
   */
  private openStdio(): void {
    const mount: MountContext = { id: 2, readonly: false, quota: null, inodes: this.tree.inodes, now: () => this.identity.realtimeNs() };
    const streams: Array<[StreamOps, bigint]> = [[this.stdin, RIGHTS_PIPE], [this.stdout, RIGHTS_PIPE], [this.stderr, RIGHTS_PIPE], [this.spec.channel, RIGHTS_PIPE]];
    const [stdin, stdout, stderr, channel] = streams.map(([ops, rights]) => {
      const node = new StreamDevice(mount, ops);
      return () => ({ kind: "stream" as const, node, handle: node.open(), position: 0, append: false, fdflags: 0, rightsBase: rights, rightsInheriting: 0n });
    });
    const root: DirNode = this.tree.root;
    const rootEntry = () => ({ kind: "dir" as const, node: root, stack: [root], names: [], path: "/", position: 0, append: false, fdflags: 0, rightsBase: RIGHTS_DIR, rightsInheriting: RIGHTS_ALL, preopen: "/" });
    this.standardFds = [stdin!, stdout!, stderr!, rootEntry];
    this.fds.setChannel(channel!());
    this.standardFds.forEach((entry, fd) => this.fds.set(fd, entry()));
  }

  /** Fresh entries for fds 0-3 (see openStdio); a restore (state.ts) rebuilds saved stdio fds from them. */
  standardFds: Array<() => Omit<OpenFile, "fileType">> = [];

  /** The host mounts the sandbox was built with (a save records where they were, a restore checks them). */
  get mounts(): readonly MountSpec[] {
    return this.spec.mounts;
  }

  get memory(): GuestMemory {
    if (this.memoryRef === null) throw new GuestFault("guest memory is not attached");
    return this.memoryRef;
  }
  attachMemory(memory: WebAssembly.Memory): void {
    this.memoryRef = new GuestMemory(memory);
  }

  /** Prepares the kernel for one run. */
  beginRun(stdin: Uint8Array, limits: RunLimits, pullStdin: StdinPull | null = null): void {
    this.standardFds.forEach((entry, fd) => this.fds.restore(fd, entry()));
    this.stdin.reset(stdin, pullStdin);
    this.output.reset(limits.outputLimitBytes);
    this.limits = limits;
    this.stopReason = null;
    this.ticks = 0;
    this.hostMs = 0;
    this.runStartMs = performance.now();
    this.lastInterruptMs = -Infinity;
    this.interruptPending = false;
    // The engine's countdown to the next tick starts afresh, so the tick budget
    // stops a program at the same point whatever the sandbox ran before.
    this.hurried = false;
    this.tickControl?.setInterval(TICK_INTERVAL);
  }

  requestStop(reason: StopReason): void {
    if (this.stopReason !== null) return;
    this.stopReason = reason;
    this.hurry();
  }

  /** Stopped or interrupted outside the eval loop (a sleep, a write, a host call): the very next eval-breaker check calls tick(). */
  private hurry(): void {
    if (this.tickControl !== null) {
      this.tickControl.setInterval(1);
      this.hurried = true;
    }
  }

  /** True while the run must stop or raise KeyboardInterrupt: blocking syscalls return early. */
  get stopping(): boolean {
    return this.stopReason !== null || this.interruptPending;
  }

  /** Guest compute time of the current run so far. */
  cpuMs(now = performance.now()): number {
    return now - this.runStartMs - this.hostMs;
  }

  /**
   * The `pyvisor.tick` import, called every `interval` eval-breaker checks.
   * Returns 0 to go on, 1 to raise KeyboardInterrupt, 2 to raise TimeoutError.
   * Once stopped, the exception is raised again at most every
   * INTERRUPT_SPACING_MS, so that the driver can report the first one in peace
   * while a guest that swallows it is still pressed until the hard stop.
   */
  tick(interval: number): number {
    this.ticks += interval;
    const now = performance.now();
    if (this.hurried) {
      this.hurried = false;
      this.tickControl?.setInterval(TICK_INTERVAL);
    }
    if (!this.checkLimits(now)) return 0;
    if (this.stopReason === null) {
      // Only an interrupt: raised once, like SIGINT in CPython.
      this.interruptPending = false;
      return 1;
    }
    if (now - this.lastInterruptMs < INTERRUPT_SPACING_MS) return 0;
    this.lastInterruptMs = now;
    return this.stopReason === "timeout" || this.stopReason === "cpu" || this.stopReason === "ticks" ? 2 : 1;
  }

  /**
   * Checks cancellation, interrupts and the time limits (and runs the periodic
   * hook when due); true once the run must stop or raise KeyboardInterrupt.
   * Called by tick(), by sleeps, and after every syscall, so that a stop asked
   * for while the guest was blocked is raised at its next eval-breaker check.
   */
  checkLimits(now = performance.now()): boolean {
    if (now - this.lastPeriodicMs >= PERIODIC_MS) {
      this.lastPeriodicMs = now;
      this.spec.periodic?.();
    }
    if (this.stopReason === null && !this.interruptPending && this.spec.interruptRequested?.()) {
      this.interruptPending = true;
      this.hurry();
    }
    if (this.stopReason === null) {
      if (this.spec.cancelRequested()) this.requestStop("cancelled");
      else if (now >= this.limits.wallDeadlineMs) this.requestStop("timeout");
      else if (this.cpuMs(now) >= this.limits.cpuBudgetMs) this.requestStop("cpu");
      else if (this.ticks >= this.limits.tickBudget) this.requestStop("ticks");
    }
    return this.stopping;
  }

  /** A syscall is about to block the thread (a sleep). */
  beforeWait(): void {
    this.spec.beforeWait?.();
  }

  /** Time until the wall deadline, for sleeps that must not outlive it. */
  msUntilDeadline(): number {
    return this.limits.wallDeadlineMs - performance.now();
  }

  /** The wasm import object. */
  imports(): WebAssembly.Imports {
    const table = { ...fdSyscalls(this), ...pathSyscalls(this), ...processSyscalls(this) };
    const wrapped: Record<string, (...args: Array<number | bigint>) => number> = {};
    for (const [name, fn] of Object.entries(table)) wrapped[name] = this.guard(name, fn as (...args: Array<number | bigint>) => number);
    const { fd_lock } = lockSyscalls(this);
    return {
      wasi_snapshot_preview1: wrapped,
      pyvisor: { tick: (interval: number) => this.tick(interval), fd_lock: this.guard("fd_lock", fd_lock as (...args: Array<number | bigint>) => number) },
    };
  }

  /** Errno discipline: a syscall returns an errno; only exits and hard stops unwind the guest. */
  private guard(name: string, fn: (...args: Array<number | bigint>) => number) {
    const policyErrno = this.policy.check({ syscall: name });
    const mayBlock = BLOCKING_SYSCALLS.has(name);
    return (...args: Array<number | bigint>): number => {
      const start = this.trace ? performance.now() : 0;
      this.tracePath = undefined;
      let result: number;
      if (policyErrno !== 0) {
        result = policyErrno;
      } else {
        try {
          result = fn(...args);
        } catch (error) {
          result = errnoOf(error);
        }
      }
      this.trace?.record(name, args, this.tracePath, ERRNO_NAMES[result] ?? String(result), Math.round((performance.now() - start) * 1000));
      if (mayBlock) this.checkLimits();
      return result;
    };
  }

  /** Back to the fds a new interpreter expects (stdio and the root preopen), e.g. after os._exit. */
  resetFds(): void {
    this.fds.closeAll();
    this.openStdio();
  }

  /** Releases every host resource the sandbox holds (host fds). */
  dispose(): void {
    this.locks.dispose(); // first: the fds' closes then ask no host (it drops a disposed sandbox's locks itself)
    this.fds.closeAll();
    this.tree.close();
  }
}

function errnoOf(error: unknown): number {
  if (error instanceof ProcExit) throw error;
  if (error instanceof VfsError) return error.errno;
  if (error instanceof GuestFault) return Errno.FAULT;
  if (error instanceof InvalidUtf8) return Errno.ILSEQ;
  if (error instanceof PathTooLong) return Errno.NAMETOOLONG;
  if (error instanceof RangeError) return Errno.INVAL; // e.g. a length that does not fit
  return Errno.IO;
}
