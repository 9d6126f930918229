// The one place that decides each syscall: allow, or deny with an errno.
// Policy is plain data (it crosses into the worker), checked by the kernel
// before any backend is touched. Sockets are always refused.
import { Errno, ERRNO_NAMES } from "../shared/wasi.js";

export interface PolicyRule {
  /** Syscall name (e.g. "path_open"), or omitted for every syscall. */
  syscall?: string;
  /** Matches calls whose resolved guest path starts with this prefix. */
  pathPrefix?: string;
  /** Only calls that would modify the file system. */
  writesOnly?: boolean;
  /** What the guest gets back; default EACCES. */
  errno?: keyof typeof ERRNO_BY_NAME;
}

export interface PolicySpec {
  /** Rules are checked in order; the first match denies. */
  deny?: PolicyRule[];
}

export interface SyscallQuery {
  syscall: string;
  path?: string;
  writes?: boolean;
}

const ERRNO_BY_NAME = Object.fromEntries(Object.entries(ERRNO_NAMES).map(([n, name]) => [name, Number(n)])) as Record<string, number>;

export class Policy {
  private readonly rules: PolicyRule[];
  constructor(spec: PolicySpec = {}) {
    if (spec === null || typeof spec !== "object" || (spec.deny !== undefined && !Array.isArray(spec.deny))) throw new TypeError("a policy is { deny?: PolicyRule[] }");
    this.rules = spec.deny ?? [];
    for (const rule of this.rules) {
      if (rule === null || typeof rule !== "object") throw new TypeError("each policy rule must be an object");
      if (rule.errno !== undefined && !(rule.errno in ERRNO_BY_NAME)) throw new TypeError(`unknown errno in policy rule: ${rule.errno}`);
    }
  }

  /** 0 to allow, or the errno to deny with. */
  check(query: SyscallQuery): number {
    if (query.syscall.startsWith("sock_")) return Errno.NOTSUP;
    for (const rule of this.rules) {
      if (rule.syscall !== undefined && rule.syscall !== query.syscall) continue;
      if (rule.writesOnly && !query.writes) continue;
      if (rule.pathPrefix !== undefined && !(query.path !== undefined && isUnder(query.path, rule.pathPrefix))) continue;
      return rule.errno !== undefined ? ERRNO_BY_NAME[rule.errno]! : Errno.ACCES;
    }
    return 0;
  }
}

function isUnder(path: string, prefix: string): boolean {
  const p = prefix.endsWith("/") ? prefix.slice(0, -1) : prefix;
  return path === p || path.startsWith(p + "/") || p === "";
}
