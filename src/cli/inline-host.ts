// What the CLI provides to an engine on its own thread (the one-shot runs; the
// pool's InlineHost): Ctrl-C and stdin, while a run blocks the event loop.
//
// Ctrl-C: node delivers SIGINT to JavaScript through the event loop, which a
// run blocks. A helper thread holds node's SIGINT watchdog instead (vm's
// breakOnSigint, the REPL's mechanism: a signal handler that terminates the
// watching script, on any thread) and counts each signal in shared memory,
// which the run reads at each of its checks. Two watches are nested so that
// one is always armed: the inner one is re-armed after each signal while the
// outer one keeps node's handler installed. Once armed, every SIGINT of the
// process comes through here: process.on("SIGINT") must not be used (it would
// give the signal back to the event loop).
//
// stdin: read by a second thread, started on the first read, one chunk per
// request, so that a read waits with a deadline and gives way to Ctrl-C.
import { Worker } from "node:worker_threads";

const WATCHER = `
const { workerData, parentPort } = require("node:worker_threads");
const vm = require("node:vm");
const cells = new Int32Array(workerData);
const context = vm.createContext({ Atomics, cells });
const inner = new vm.Script("for (;;) Atomics.wait(cells, 1, 0)");
context.watch = () => inner.runInContext(context, { breakOnSigint: true });
context.count = () => {
  Atomics.add(cells, 0, 1);
  Atomics.notify(cells, 0);
  parentPort.postMessage("sigint");
};
context.armed = () => parentPort.postMessage("armed");
new vm.Script("armed(); for (;;) { try { watch(); } catch { count(); } }").runInContext(context, { breakOnSigint: true });
`;

/** Counts the process's SIGINTs on a helper thread; the listener gets each one, from a run's checks or from the event loop. */
export class SigintWatch {
  private readonly cells = new Int32Array(new SharedArrayBuffer(8));
  private seen = 0;
  private listener: (() => void) | null = null;
  /** Resolves once the watch has the signal (a run must not start before: a SIGINT would wait for the event loop). */
  readonly armed: Promise<void>;

  constructor() {
    const worker = new Worker(WATCHER, { eval: true, workerData: this.cells.buffer, stdout: false, stderr: false });
    worker.unref();
    this.armed = new Promise((resolve, reject) => {
      worker.on("message", (message) => {
        if (message === "armed") resolve();
        else this.poll();
      });
      worker.once("error", reject);
      worker.once("exit", () => reject(new Error("the Ctrl-C watch ended")));
    });
  }

  /** Hands each SIGINT counted since the last poll to the listener; with none, Ctrl-C ends the process (130) as it would by default. */
  poll(): void {
    const count = Atomics.load(this.cells, 0);
    while (this.seen < count) {
      this.seen++;
      if (this.listener === null) process.exit(130);
      this.listener();
    }
  }

  /** Sets the listener (as process.on("SIGINT") would); returns its removal. */
  listen(listener: () => void): () => void {
    this.listener = listener;
    return () => {
      if (this.listener === listener) this.listener = null;
    };
  }
}

const READER = `
const { workerData, parentPort } = require("node:worker_threads");
const fs = require("node:fs");
const net = require("node:net");
const tty = require("node:tty");
const state = new Int32Array(workerData.state);
const data = new Uint8Array(workerData.data);
const pending = [];
let ended = false;
let wanted = false;
let stream = null;
function deliver() {
  if (!wanted || (pending.length === 0 && !ended)) return;
  let chunk = pending.shift() ?? new Uint8Array(0);
  if (chunk.length > data.length) {
    pending.unshift(chunk.subarray(data.length));
    chunk = chunk.subarray(0, data.length);
  }
  data.set(chunk);
  Atomics.store(state, 1, chunk.length);
  wanted = false;
  stream?.pause();
  Atomics.add(state, 0, 1);
  Atomics.notify(state, 0);
}
const end = () => { ended = true; deliver(); };
try {
  const st = fs.fstatSync(0);
  if (st.isFIFO() || st.isSocket()) stream = new net.Socket({ fd: 0, readable: true, writable: false });
  else if (tty.isatty(0)) stream = new tty.ReadStream(0);
} catch {
  ended = true;
}
if (stream !== null) {
  stream.pause();
  stream.on("data", (chunk) => { pending.push(chunk); deliver(); });
  stream.on("end", end);
  stream.on("error", end);
}
parentPort.on("message", () => {
  wanted = true;
  if (pending.length > 0 || ended) return deliver();
  if (stream !== null) return stream.resume();
  // A regular file (or /dev/null): a read never waits.
  const buffer = Buffer.alloc(data.length);
  let n = 0;
  try { n = fs.readSync(0, buffer); } catch {}
  if (n === 0) ended = true;
  else pending.push(buffer.subarray(0, n));
  deliver();
});
`;

/** How often a read waiting for stdin checks for Ctrl-C (ms). */
const POLL_MS = 20;
const CHUNK_BYTES = 64 * 1024;

/** The caller's stdin, read on request by a helper thread (see the top of this file). */
export class SyncStdin {
  private worker: Worker | null = null;
  /** [chunks delivered, length of the last one] */
  private readonly state = new Int32Array(new SharedArrayBuffer(8));
  private readonly data = new Uint8Array(new SharedArrayBuffer(CHUNK_BYTES));
  private delivered = 0;
  private asked = false;

  /** See InlineHost.readStdin. */
  read(deadlineMs: number, interrupted: () => boolean): Uint8Array {
    if (!this.asked) {
      this.worker ??= this.start();
      this.worker.postMessage(0);
      this.asked = true;
    }
    for (;;) {
      const delivered = Atomics.load(this.state, 0);
      if (delivered !== this.delivered) {
        this.delivered = delivered;
        this.asked = false;
        return this.data.slice(0, Atomics.load(this.state, 1));
      }
      // The chunk asked for stays with the thread for the next read.
      if (interrupted()) return new Uint8Array(0);
      const left = deadlineMs - performance.now();
      if (left <= 0) return new Uint8Array(0);
      Atomics.wait(this.state, 0, delivered, Math.min(left, POLL_MS));
    }
  }

  private start(): Worker {
    const worker = new Worker(READER, { eval: true, workerData: { state: this.state.buffer, data: this.data.buffer }, stdout: false, stderr: false });
    worker.unref();
    return worker;
  }
}
