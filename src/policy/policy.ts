// The one place that decides each syscall: allow, or deny with an errno.
// Policy is plain data (it crosses into the worker), checked by the kernel
// before any backend is touched. Sockets are always refused.
import { Errno, ERRNO_BY_NAME, isErrnoName } from "../shared/errno.js";
import type { PolicyRule, PolicySpec } from "../shared/spec.js";



/**
 * One question to the policy. A rule is about what a path is, not how the
 * guest named it, so the callers ask with every name a call can change: the
 * resolved path (after `..` and symlinks) of each name a write reaches, both
 * ends of a rename or link (a link's source counts as a write: it makes a
 * second name through which the file can then be written), and, for calls
 * that take a whole subtree with them, the subtree's root.
 */
export interface SyscallQuery {
  syscall: string;
  /** The resolved sandbox path. */
  path?: string;
  /** The call may modify the file system at `path`. */
  writes?: boolean;
  /**
   * The call moves, removes or replaces `path` with everything below it
   * (rename, rmdir, unlink): a rule on a prefix below `path` matches too, as
   * renaming /data away would move /data/protected out from under its rule.
   */
  subtree?: boolean;
}

export class Policy {
  private readonly rules: PolicyRule[];
  constructor(spec: PolicySpec = {}) {
    if (spec === null || typeof spec !== "object" || (spec.deny !== undefined && !Array.isArray(spec.deny))) throw new TypeError("a policy is { deny?: PolicyRule[] }");
    this.rules = spec.deny ?? [];
    for (const rule of this.rules) {
      if (rule === null || typeof rule !== "object") throw new TypeError("each policy rule must be an object");
      if (rule.errno !== undefined && !isErrnoName(rule.errno)) throw new TypeError(`unknown errno in policy rule: ${rule.errno}`);
    }
  }

  /** 0 to allow, or the errno to deny with. */
  check(query: SyscallQuery): Errno {
    if (query.syscall.startsWith("sock_")) return Errno.NOTSUP;
    for (const rule of this.rules) {
      if (rule.syscall !== undefined && rule.syscall !== query.syscall) continue;
      if (rule.writesOnly && !query.writes) continue;
      if (rule.pathPrefix !== undefined && !reaches(query, rule.pathPrefix)) continue;
      return rule.errno !== undefined ? ERRNO_BY_NAME[rule.errno] : Errno.ACCES;
    }
    return 0;
  }
}

/** The call touches `prefix` or something below it. */
function reaches(query: SyscallQuery, prefix: string): boolean {
  if (query.path === undefined) return false;
  return isUnder(query.path, prefix) || (query.subtree === true && isUnder(prefix, query.path));
}

function isUnder(path: string, prefix: string): boolean {
  const p = prefix.endsWith("/") ? prefix.slice(0, -1) : prefix;
  return path === p || path.startsWith(p + "/") || p === "";
}
