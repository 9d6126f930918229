/* POSIX record locks for SQLite's "unix" VFS on WASI (see sqlite_wasi_locks.h).
 *
 * A sandbox is one process. POSIX record locks belong to a process, and a
 * process's own locks never conflict with each other: F_SETLK always succeeds
 * for the lock's owner and F_GETLK reports only other processes' locks, so with
 * no other process there is nothing to record or to report. Connections of the
 * one process are kept apart by SQLite itself, which tracks every lock its
 * connections hold on a file in its in-memory inode table (unixInodeInfo), the
 * same way it does on Linux, where fcntl locks cannot do that either.
 *
 * What is checked is what the kernel would check: an open descriptor with the
 * access the lock needs, a known lock type and whence, and no negative start
 * from the file's beginning (SEEK_SET). */
#define PYVISOR_SQLITE_LOCKS_IMPL
#include "sqlite_wasi_locks.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>

static int fail(int error) {
  errno = error;
  return -1;
}

static int record_lock(int fd, int cmd, struct flock *lock) {
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0) return -1; /* EBADF from the kernel */
  if (lock == NULL) return fail(EFAULT);
  if (lock->l_whence != SEEK_SET && lock->l_whence != SEEK_CUR && lock->l_whence != SEEK_END) return fail(EINVAL);
  if (lock->l_whence == SEEK_SET && lock->l_start < 0) return fail(EINVAL);
  int access = flags & O_ACCMODE;
  int readable = access == O_RDONLY || access == O_RDWR;
  int writable = access == O_WRONLY || access == O_RDWR;
  switch (lock->l_type) {
    case F_RDLCK:
      if (cmd != F_GETLK && !readable) return fail(EBADF);
      break;
    case F_WRLCK:
      if (cmd != F_GETLK && !writable) return fail(EBADF);
      break;
    case F_UNLCK:
      if (cmd == F_GETLK) return fail(EINVAL);
      break;
    default:
      return fail(EINVAL);
  }
  /* No other process holds a lock that could conflict. */
  if (cmd == F_GETLK) lock->l_type = F_UNLCK;
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
