// The WASI errno values the kernel answers with (wasi_snapshot_preview1), in
// one list: `Errno.NOENT` in code, "ENOENT" in traces, messages and policy
// rules, both made from the table below so that they cannot disagree.

export const Errno = {
  SUCCESS: 0, TOOBIG: 1, ACCES: 2, AGAIN: 6, BADF: 8, BUSY: 10, DQUOT: 19, EXIST: 20, FAULT: 21,
  FBIG: 22, ILSEQ: 25, INTR: 27, INVAL: 28, IO: 29, ISDIR: 31, LOOP: 32,
  MFILE: 33, MLINK: 34, NAMETOOLONG: 37, NFILE: 41, NOENT: 44, NOLCK: 46, NOMEM: 48, NOSPC: 51,
  NOSYS: 52, NOTDIR: 54, NOTEMPTY: 55, NOTSUP: 58, NOTTY: 59, OVERFLOW: 61,
  PERM: 63, PIPE: 64, RANGE: 68, ROFS: 69, SPIPE: 70, XDEV: 75, NOTCAPABLE: 76,
} as const;
export type Errno = (typeof Errno)[keyof typeof Errno];

type Key = keyof typeof Errno;
/** The POSIX name of each errno: "E" + its key, except SUCCESS and E2BIG (TOOBIG in WASI). */
export type ErrnoName = "SUCCESS" | "E2BIG" | `E${Exclude<Key, "SUCCESS" | "TOOBIG">}`;

const posixName = (key: Key): ErrnoName => (key === "SUCCESS" ? "SUCCESS" : key === "TOOBIG" ? "E2BIG" : `E${key}` as ErrnoName);

/** errno -> POSIX name ("ENOENT"). */
export const ERRNO_NAMES: Readonly<Record<number, ErrnoName>> = Object.freeze(
  Object.fromEntries((Object.keys(Errno) as Key[]).map((key) => [Errno[key], posixName(key)])),
);

/** POSIX name -> errno. */
export const ERRNO_BY_NAME: Readonly<Record<ErrnoName, Errno>> = Object.freeze(
  Object.fromEntries((Object.keys(Errno) as Key[]).map((key) => [posixName(key), Errno[key]])) as Record<ErrnoName, Errno>,
);

/** What each errno means, in the words of strerror (for messages such as sb.fs errors). */
const DESCRIPTIONS: Partial<Record<ErrnoName, string>> = {
  E2BIG: "argument list too long", EACCES: "permission denied", EAGAIN: "resource temporarily unavailable",
  EBADF: "bad file descriptor", EBUSY: "resource busy", EDQUOT: "disk quota exceeded", EEXIST: "file exists",
  EFAULT: "bad address", EFBIG: "file too large", EILSEQ: "illegal byte sequence", EINTR: "interrupted system call",
  EINVAL: "invalid argument", EIO: "i/o error", EISDIR: "is a directory", ELOOP: "too many symbolic links",
  EMFILE: "too many open files", EMLINK: "too many links", ENAMETOOLONG: "file name too long",
  ENFILE: "too many open files in system", ENOENT: "no such file or directory", ENOLCK: "no locks available", ENOMEM: "out of memory",
  ENOSPC: "no space left on device", ENOSYS: "function not implemented", ENOTDIR: "not a directory",
  ENOTEMPTY: "directory not empty", ENOTSUP: "operation not supported", ENOTTY: "not a tty",
  EOVERFLOW: "value too large", EPERM: "operation not permitted", EPIPE: "broken pipe", ERANGE: "result out of range",
  EROFS: "read-only file system", ESPIPE: "illegal seek", EXDEV: "cross-device link", ENOTCAPABLE: "capabilities insufficient",
};

export function describeErrno(name: ErrnoName): string {
  return DESCRIPTIONS[name] ?? name;
}

export function isErrnoName(name: unknown): name is ErrnoName {
  return typeof name === "string" && Object.hasOwn(ERRNO_BY_NAME, name);
}
