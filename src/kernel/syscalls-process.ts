// args, environment, clocks, randomness, poll_oneoff (sleeps), exit, sockets.
import { ClockId, EventType, SIZE, SUBCLOCK_ABSTIME } from "../shared/wasi.js";
import { Errno } from "../shared/errno.js";
import { fail } from "../vfs/node.js";
import type { Kernel } from "./kernel.js";
import { ProcExit } from "./exit.js";
import { encodeUtf8 } from "./memory.js";

type Ptr = number;
const sleepCell = new Int32Array(new SharedArrayBuffer(4));
const MAX_RANDOM_BYTES = 1024 * 1024;

/** Writes a NUL-terminated string list (argv, environ) the way WASI lays it out. */
function writeStringList(k: Kernel, items: string[], ptrsPtr: Ptr, bufPtr: Ptr): number {
  let offset = bufPtr >>> 0;
  items.forEach((item, i) => {
    const bytes = encodeUtf8(item + "\0");
    k.memory.out(offset, bytes.length).set(bytes);
    k.memory.setU32(ptrsPtr + i * 4, offset);
    offset += bytes.length;
  });
  return Errno.SUCCESS;
}
function writeListSizes(k: Kernel, items: string[], countPtr: Ptr, sizePtr: Ptr): number {
  k.memory.setU32(countPtr, items.length);
  k.memory.setU32(sizePtr, items.reduce((n, item) => n + encodeUtf8(item).length + 1, 0));
  return Errno.SUCCESS;
}

export function processSyscalls(k: Kernel) {
  const args = ["python3"];
  const clockNs = (id: number): bigint => {
    switch (id) {
      case ClockId.REALTIME: return k.identity.realtimeNs();
      case ClockId.MONOTONIC: return k.identity.monotonicNs();
      case ClockId.PROCESS_CPUTIME:
      case ClockId.THREAD_CPUTIME: return k.identity.spec.deterministic ? k.identity.monotonicNs() : BigInt(Math.round(k.cpuMs() * 1e6));
      default: return fail(Errno.INVAL);
    }
  };

  /** Blocks the worker thread (never the host's main thread) for up to `ns`, within the run's deadline. */
  const sleep = (ns: bigint): void => {
    if (ns <= 0n) return;
    if (k.identity.spec.deterministic) {
      k.identity.advance(ns);
      return;
    }
    const ms = Math.min(Number(ns) / 1e6, Math.max(0, k.msUntilDeadline()));
    const start = performance.now();
    if (ms > 0) k.beforeWait();
    // Wait in slices so that a cancellation is seen within 50 ms; sleeping is not CPU time.
    for (let left = ms; left > 0 && !k.stopping; left = ms - (performance.now() - start)) {
      const sliceStart = performance.now();
      Atomics.wait(sleepCell, 0, 0, Math.min(left, 50));
      k.hostMs += performance.now() - sliceStart;
      k.checkLimits();
    }
  };

  return {
    args_sizes_get: (countPtr: Ptr, sizePtr: Ptr) => writeListSizes(k, args, countPtr, sizePtr),
    args_get: (argvPtr: Ptr, bufPtr: Ptr) => writeStringList(k, args, argvPtr, bufPtr),
    environ_sizes_get: (countPtr: Ptr, sizePtr: Ptr) => writeListSizes(k, k.identity.environ(), countPtr, sizePtr),
    environ_get: (envPtr: Ptr, bufPtr: Ptr) => writeStringList(k, k.identity.environ(), envPtr, bufPtr),

    clock_res_get(id: number, resPtr: Ptr): number {
      clockNs(id);
      k.memory.setU64(resPtr, 1000n);
      return Errno.SUCCESS;
    },

    clock_time_get(id: number, _precision: bigint, timePtr: Ptr): number {
      k.memory.setU64(timePtr, clockNs(id));
      return Errno.SUCCESS;
    },

    random_get(buf: Ptr, len: number): number {
      if (len >>> 0 > MAX_RANDOM_BYTES) fail(Errno.INVAL);
      k.identity.fillRandom(k.memory.out(buf, len));
      return Errno.SUCCESS;
    },

    poll_oneoff(inPtr: Ptr, outPtr: Ptr, nsubscriptions: number, neventsPtr: Ptr): number {
      const n = nsubscriptions >>> 0;
      if (n === 0 || n > 4096) fail(Errno.INVAL);
      const mem = k.memory;
      mem.bytes(inPtr, n * SIZE.SUBSCRIPTION);
      mem.bytes(outPtr, n * SIZE.EVENT);
      let events = 0;
      let earliest: bigint | null = null;
      const clocks: Array<{ userdata: bigint; deadline: bigint }> = [];
      const emit = (userdata: bigint, type: number, errno: number, nbytes: bigint) => {
        const ev = outPtr + events * SIZE.EVENT;
        mem.bytes(ev, SIZE.EVENT).fill(0);
        mem.setU64(ev, userdata);
        mem.setU16(ev + 8, errno);
        mem.setU8(ev + 10, type);
        mem.setU64(ev + 16, nbytes);
        events++;
      };
      for (let i = 0; i < n; i++) {
        const sub = inPtr + i * SIZE.SUBSCRIPTION;
        const userdata = mem.u64(sub);
        const tag = mem.u8(sub + 8);
        if (tag === EventType.CLOCK) {
          const id = mem.u32(sub + 16);
          const timeout = mem.u64(sub + 24);
          const flags = mem.u16(sub + 40);
          const now = clockNs(id);
          const relative = flags & SUBCLOCK_ABSTIME ? timeout - now : timeout;
          clocks.push({ userdata, deadline: relative });
          if (earliest === null || relative < earliest) earliest = relative;
        } else if (tag === EventType.FD_READ || tag === EventType.FD_WRITE) {
          // Every fd is always ready: files and devices never block, stdin is pre-supplied.
          const fd = mem.u32(sub + 16);
          let errno: number = Errno.SUCCESS;
          let nbytes = 0n;
          try {
            k.fds.get(fd);
            nbytes = tag === EventType.FD_READ && fd === 0 ? BigInt(k.stdin.available()) : 0n;
          } catch {
            errno = Errno.BADF;
          }
          emit(userdata, tag, errno, nbytes);
        } else {
          fail(Errno.INVAL);
        }
      }
      if (events === 0 && earliest !== null) {
        sleep(earliest);
        for (const clock of clocks) if (clock.deadline <= earliest) emit(clock.userdata, EventType.CLOCK, Errno.SUCCESS, 0n);
      }
      mem.setU32(neventsPtr, events);
      return Errno.SUCCESS;
    },

    proc_exit(code: number): number {
      throw new ProcExit(code >>> 0);
    },

    proc_raise(): number {
      return Errno.NOSYS;
    },

    sched_yield(): number {
      return Errno.SUCCESS;
    },

    sock_accept: (): number => Errno.NOTSUP,
    sock_recv: (): number => Errno.NOTSUP,
    sock_send: (): number => Errno.NOTSUP,
    sock_shutdown: (): number => Errno.NOTSUP,
  };
}
