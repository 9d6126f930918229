// How a sandbox is described once its options are resolved: plain data that
// crosses from the host into the worker, read by the VFS (mounts) and the
// policy (rules).
import type { ErrnoName } from "./errno.js";

export interface MountSpec {
  /** Absolute host directory. */
  hostPath: string;
  /** Absolute path inside the sandbox. */
  guestPath: string;
  readonly: boolean;
  /** Let the guest make symlinks in a read-write mount (targets must stay inside it). */
  allowSymlinks?: boolean;
}

/**
 * A package the host has checked (src/packages): the worker unpacks `path`
 * again only if it has no layer with this content hash yet, and refuses the
 * file if its hash is no longer `hash`.
 */
export interface PackageRef {
  /** Absolute host path of the wheel, zip archive or directory. */
  path: string;
  /** Content hash (hex sha256; of a directory, of its listing and files). */
  hash: string;
}

export interface PolicyRule {
  /** Syscall name (e.g. "path_open"), or omitted for every syscall. */
  syscall?: string;
  /**
   * Matches calls that reach this sandbox path or anything below it, by any
   * name: the path is the resolved one (after `..` and symlinks); a link's
   * source, both ends of a rename, calls through an fd opened under the
   * prefix (setting times), and a rename, rmdir or unlink of one of the
   * prefix's ancestors all count. Paths are the sandbox's, so a host
   * directory mounted twice has two sandbox paths: protect both.
   */
  pathPrefix?: string;
  /** Only calls that would modify the file system. */
  writesOnly?: boolean;
  /** What the guest gets back; default EACCES. */
  errno?: ErrnoName;
}

export interface PolicySpec {
  /** Rules are checked in order; the first match denies. */
  deny?: PolicyRule[];
}
