// The --trace file. The guest may change any host name inside a read-write
// mount while it runs (replace the trace file by a symlink to a shell rc
// file, say), so the CLI opens the file once, before the guest starts, never
// through a symlink and never inside a read-write mount, and afterwards
// writes only through that fd: no name is looked up again once the guest runs.
import { closeSync, constants, fstatSync, ftruncateSync, lstatSync, openSync, realpathSync, writeSync } from "node:fs";
import { dirname, isAbsolute, relative, sep } from "node:path";
import type { MountOption } from "../api/index.js";
import type { TraceEntry } from "../api/index.js";
import { UsageError } from "./args.js";
import { traceLines } from "./report.js";

/** `--trace /dev/fd/N`: an fd the caller opened (a pipe, `3>file`), used as it is. */
const INHERITED_FD = /^\/dev\/fd\/(\d{1,9})$/;

function refuse(path: string, why: string): never {
  throw new UsageError(`--trace: ${why}: ${path}`);
}

const REASONS: Record<string, string> = { ENOENT: "no such directory", EACCES: "permission denied", EISDIR: "it is a directory", ENXIO: "not a regular file" };

function cannotWrite(path: string, error: unknown): never {
  const code = (error as NodeJS.ErrnoException).code;
  refuse(path, `cannot write (${(code !== undefined ? REASONS[code] : undefined) ?? code ?? (error as Error).message})`);
}

function within(path: string, dir: string): boolean {
  const rel = relative(dir, path);
  return rel === "" || (rel !== ".." && !rel.startsWith(`..${sep}`) && !isAbsolute(rel));
}

function realOrSelf(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path; // gone since the arguments were read: Sandbox.create reports it
  }
}

/**
 * Refuses a trace whose directory is a symlink or lies inside a read-write
 * mount (by the path as given and by real path, against each mount's path as
 * given and its real path).
 */
function checkDirectory(path: string, mounts: readonly MountOption[]): void {
  const dir = dirname(path);
  let real: string;
  try {
    if (lstatSync(dir).isSymbolicLink()) refuse(path, "its directory is a symlink (give the real directory)");
    real = realpathSync(dir);
  } catch (error) {
    if (error instanceof UsageError) throw error;
    cannotWrite(path, error);
  }
  const mount = readWriteMountHolding([dir, real], mounts);
  if (mount !== undefined) refuse(path, `it is inside the read-write mount ${mount.host} (the sandbox could replace it; put the trace elsewhere)`);
}

/** The read-write mount that holds one of `paths` (each as given or real), if any: the guest could change what is there. */
export function readWriteMountHolding(paths: readonly string[], mounts: readonly MountOption[]): MountOption | undefined {
  return mounts.find((mount) => mount.readonly === false
    && [mount.host, realOrSelf(mount.host)].some((host) => paths.some((p) => within(p, host) || within(realOrSelf(p), host))));
}

/** Opens an existing regular file or creates one, with O_NOFOLLOW (and O_NONBLOCK, so that a FIFO cannot block). */
function openRegular(path: string): number {
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK, 0o666);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ELOOP" || code === "EMLINK") refuse(path, "it is a symlink (give the file itself, or /dev/fd/N for an open fd)");
    cannotWrite(path, error);
  }
  const stat = fstatSync(fd);
  const why = !stat.isFile() ? "not a regular file" : stat.nlink > 1 ? "it has another hard link (truncating it would change that file too)" : null;
  if (why !== null) {
    closeSync(fd);
    refuse(path, why);
  }
  ftruncateSync(fd, 0);
  return fd;
}

export class TraceFile {
  private failed = false;

  private constructor(private readonly fd: number, private readonly path: string, private readonly owned: boolean) {}

  /** Opens `path` (absolute) for the trace before any guest runs; throws UsageError. */
  static open(path: string, mounts: readonly MountOption[]): TraceFile {
    const inherited = INHERITED_FD.exec(path);
    if (inherited !== null) {
      const fd = Number(inherited[1]);
      try {
        fstatSync(fd);
      } catch {
        refuse(path, "that fd is not open");
      }
      return new TraceFile(fd, path, false);
    }
    checkDirectory(path, mounts);
    return new TraceFile(openRegular(path), path, true);
  }

  /** Appends a run's entries through the fd; a failure is reported once, not thrown. */
  write(entries: readonly TraceEntry[]): void {
    if (this.failed || entries.length === 0) return;
    const bytes = Buffer.from(traceLines(entries));
    try {
      for (let done = 0; done < bytes.length;) done += writeSync(this.fd, bytes, done);
    } catch (error) {
      this.failed = true;
      process.stderr.write(`pyvisor: --trace: cannot write ${this.path}: ${(error as Error).message}\n`);
    }
  }

  close(): void {
    if (this.owned) closeSync(this.fd);
  }
}
