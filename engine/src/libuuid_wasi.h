/* Forced into every file of util-linux's libuuid when engine/build.sh compiles
 * it alone for wasm32-wasip1: what util-linux's own configure would have found
 * there, and the few POSIX calls WASI lacks. */
#define HAVE_UNISTD_H 1
#define HAVE_STDLIB_H 1
#define HAVE_SYS_TIME_H 1
#define HAVE_NANOSLEEP 1
#define HAVE_REALLOCARRAY 1
#define PACKAGE_STRING "util-linux"
/* The clock state file (/var/lib/libuuid/clock.txt) is absent in a sandbox,
 * so uuid_generate_time_safe() reports its result as not known to be safe. */
#define _PATH_LOCALSTATEDIR "/var/lib"

#include <sys/types.h>
#include <sys/random.h>

/* WASI has no users and no umask. */
static inline uid_t getuid(void) { return 0; }
static inline gid_t getgid(void) { return 0; }
static inline int setuid(uid_t uid) { (void)uid; return 0; }
static inline int setgid(gid_t gid) { (void)gid; return 0; }
static inline mode_t umask(mode_t mask) { (void)mask; return 022; }

/* No file locks either: a sandbox is one process, so there is no other
 * uuid generator to serialise with. */
#define LOCK_EX 2
#define LOCK_UN 8
static inline int flock(int fd, int op) { (void)fd; (void)op; return 0; }

/* WASI has getentropy (at most 256 bytes a call), not getrandom; a short
 * read is what getrandom's callers already loop on. */
#define HAVE_GETRANDOM 1
#define GRND_NONBLOCK 1
static inline ssize_t getrandom(void *buf, size_t len, unsigned flags) {
  (void)flags;
  if (len > 256) len = 256;
  return getentropy(buf, len) == 0 ? (ssize_t)len : -1;
}
