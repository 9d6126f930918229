/* Forced into sqlite3.c by engine/build.sh: SQLite's "unix" VFS takes POSIX
 * record locks with fcntl(F_SETLK/F_GETLK), which WASI's libc neither defines
 * nor implements, so SQLite for WASI defaults to "unix-dotfile" locking, where
 * two connections to one database lock each other out ("database is locked").
 * With these, the "unix" VFS is used and its fcntl calls go to
 * pyvisor_sqlite_fcntl (sqlite_wasi_locks.c). */
#ifndef PYVISOR_SQLITE_WASI_LOCKS_H
#define PYVISOR_SQLITE_WASI_LOCKS_H

/* SQLite's own fallback values for WASI (those of 32-bit Linux). */
#define F_RDLCK 0
#define F_WRLCK 1
#define F_UNLCK 2
#define F_GETLK 12
#define F_SETLK 13
#define F_SETLKW 14

#define SQLITE_DEFAULT_UNIX_VFS "unix"

int pyvisor_sqlite_fcntl(int fd, int cmd, ...);
#ifndef PYVISOR_SQLITE_LOCKS_IMPL
#define fcntl pyvisor_sqlite_fcntl
#endif

#endif
