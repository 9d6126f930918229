/* POSIX record locks for SQLite's "unix" VFS on WASI (see sqlite_wasi_locks.h).
 *
 * A sandbox is one process. WASI has no record locks, so they are asked of
 * pyvisor's kernel through its `pyvisor.fd_lock` import (src/kernel/
 * syscalls-lock.ts), which keeps them per file across every sandbox of a
 * worker: two sandboxes that share a database file lock each other out as two
 * processes on Linux do. Connections of one sandbox are kept apart by SQLite
 * itself, in its in-memory inode table (unixInodeInfo), as on Linux, where a
 * process's own fcntl locks never conflict either. The kernel checks the
 * descriptor, the access each lock needs, the type, whence and range. */
#define PYVISOR_SQLITE_LOCKS_IMPL
#include "sqlite_wasi_locks.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* What the kernel writes for F_GETLK: the conflicting lock, or F_UNLCK as its type. */
struct pyvisor_lock_out {
  int32_t type;
  int64_t start; /* offset 8 */
  int64_t len;   /* offset 16; 0 runs to the end */
  int32_t pid;   /* offset 24; always -1 (no process identity crosses sandboxes) */
};
_Static_assert(offsetof(struct pyvisor_lock_out, start) == 8 && offsetof(struct pyvisor_lock_out, len) == 16 &&
                   offsetof(struct pyvisor_lock_out, pid) == 24,
               "the layout fd_lock writes (src/kernel/syscalls-lock.ts)");

/* Returns 0 or a WASI errno (which is wasi-libc's errno). */
__attribute__((import_module("pyvisor"), import_name("fd_lock"))) int32_t pyvisor_fd_lock(
    int32_t fd, int32_t cmd, int32_t type, int32_t whence, int64_t start, int64_t len, struct pyvisor_lock_out *out);

static int record_lock(int fd, int cmd, struct flock *lock) {
  if (lock == NULL) {
    errno = EFAULT;
    return -1;
  }
  struct pyvisor_lock_out out = {.type = F_UNLCK};
  int32_t error = pyvisor_fd_lock(fd, cmd, lock->l_type, lock->l_whence, lock->l_start, lock->l_len, &out);
  if (error != 0) {
    errno = error;
    return -1;
  }
  if (cmd == F_GETLK) {
    lock->l_type = (short)out.type;
    if (out.type != F_UNLCK) {
      lock->l_whence = SEEK_SET;
      lock->l_start = out.start;
      lock->l_len = out.len;
      lock->l_pid = out.pid;
    }
  }
  return 0;
}

int pyvisor_sqlite_fcntl(int fd, int cmd, ...) {
  va_list args;
  va_start(args, cmd);
  int result;
  if (cmd == F_GETLK || cmd == F_SETLK || cmd == F_SETLKW) {
    result = record_lock(fd, cmd, va_arg(args, struct flock *));
  } else {
    /* F_GETFD, F_SETFD, F_GETFL, F_SETFL: an int argument, or none (read and ignored, as libc's fcntl does). */
    result = fcntl(fd, cmd, va_arg(args, int));
  }
  va_end(args);
  return result;
}
