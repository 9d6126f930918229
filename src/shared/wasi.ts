// WASI preview1 constants and struct layouts (wasi_snapshot_preview1 witx).
// The errno values are in errno.ts.

export const enum FileType {
  UNKNOWN = 0, BLOCK_DEVICE = 1, CHARACTER_DEVICE = 2, DIRECTORY = 3,
  REGULAR_FILE = 4, SOCKET_DGRAM = 5, SOCKET_STREAM = 6, SYMBOLIC_LINK = 7,
}

export const enum FdFlags { APPEND = 1, DSYNC = 2, NONBLOCK = 4, RSYNC = 8, SYNC = 16 }
export const enum OFlags { CREAT = 1, DIRECTORY = 2, EXCL = 4, TRUNC = 8 }
export const LOOKUP_SYMLINK_FOLLOW = 1;
export const enum Whence { SET = 0, CUR = 1, END = 2 }
export const enum ClockId { REALTIME = 0, MONOTONIC = 1, PROCESS_CPUTIME = 2, THREAD_CPUTIME = 3 }
export const enum FstFlags { ATIM = 1, ATIM_NOW = 2, MTIM = 4, MTIM_NOW = 8 }
export const enum EventType { CLOCK = 0, FD_READ = 1, FD_WRITE = 2 }
export const SUBCLOCK_ABSTIME = 1;

/** Rights bits (bigint because they are u64 on the wire). */
export const Rights = {
  FD_DATASYNC: 1n << 0n, FD_READ: 1n << 1n, FD_SEEK: 1n << 2n, FD_FDSTAT_SET_FLAGS: 1n << 3n,
  FD_SYNC: 1n << 4n, FD_TELL: 1n << 5n, FD_WRITE: 1n << 6n, FD_ADVISE: 1n << 7n,
  FD_ALLOCATE: 1n << 8n, PATH_CREATE_DIRECTORY: 1n << 9n, PATH_CREATE_FILE: 1n << 10n,
  PATH_LINK_SOURCE: 1n << 11n, PATH_LINK_TARGET: 1n << 12n, PATH_OPEN: 1n << 13n,
  FD_READDIR: 1n << 14n, PATH_READLINK: 1n << 15n, PATH_RENAME_SOURCE: 1n << 16n,
  PATH_RENAME_TARGET: 1n << 17n, PATH_FILESTAT_GET: 1n << 18n, PATH_FILESTAT_SET_SIZE: 1n << 19n,
  PATH_FILESTAT_SET_TIMES: 1n << 20n, FD_FILESTAT_GET: 1n << 21n, FD_FILESTAT_SET_SIZE: 1n << 22n,
  FD_FILESTAT_SET_TIMES: 1n << 23n, PATH_SYMLINK: 1n << 24n, PATH_REMOVE_DIRECTORY: 1n << 25n,
  PATH_UNLINK_FILE: 1n << 26n, POLL_FD_READWRITE: 1n << 27n, SOCK_SHUTDOWN: 1n << 28n,
  SOCK_ACCEPT: 1n << 29n,
} as const;

export const RIGHTS_ALL = (1n << 30n) - 1n;
export const RIGHTS_FILE =
  Rights.FD_DATASYNC | Rights.FD_READ | Rights.FD_SEEK | Rights.FD_FDSTAT_SET_FLAGS | Rights.FD_SYNC |
  Rights.FD_TELL | Rights.FD_WRITE | Rights.FD_ADVISE | Rights.FD_ALLOCATE | Rights.FD_FILESTAT_GET |
  Rights.FD_FILESTAT_SET_SIZE | Rights.FD_FILESTAT_SET_TIMES | Rights.POLL_FD_READWRITE;
export const RIGHTS_DIR = RIGHTS_ALL & ~(Rights.FD_READ | Rights.FD_WRITE | Rights.FD_SEEK |
  Rights.FD_TELL | Rights.FD_ALLOCATE | Rights.FD_FILESTAT_SET_SIZE | Rights.SOCK_SHUTDOWN | Rights.SOCK_ACCEPT);
export const RIGHTS_STREAM = Rights.FD_READ | Rights.FD_WRITE | Rights.FD_FDSTAT_SET_FLAGS |
  Rights.FD_FILESTAT_GET | Rights.POLL_FD_READWRITE | Rights.FD_SYNC | Rights.FD_DATASYNC;
/** stdio of a run: like a pipe. FD_TELL makes wasi-libc's isatty() false (a tty has neither seek nor tell). */
export const RIGHTS_PIPE = RIGHTS_STREAM | Rights.FD_TELL;

/** Byte sizes of the structs the kernel reads or writes. */
export const SIZE = { FILESTAT: 64, FDSTAT: 24, PRESTAT: 8, DIRENT: 24, IOVEC: 8, SUBSCRIPTION: 48, EVENT: 32 } as const;
