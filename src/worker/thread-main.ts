// Entry of a worker thread (a worker_thread). Hosts sandboxes (host.ts) and
// serves one message at a time; a run blocks the thread, never the host's
// event loop. Host-function calls block on the shared control block until the
// host answers (Atomics.wait), which is what makes them synchronous for Python.
import { parentPort, workerData } from "node:worker_threads";
import { coldStart, startWorkerHost, startWorkerHostAsync, type WorkerHostOptions, type WorkerTransport } from "./host.js";
import { encodeValue } from "../shared/codec.js";
import { ANSWER_BYTES, CONTROL, type CallKind, type FromWorker, type ToWorker } from "../shared/protocol.js";

interface ThreadData {
  control: SharedArrayBuffer;
  answers: SharedArrayBuffer;
  /** null: they come as the first message (pool/links.ts, ThreadInit). */
  host: WorkerHostOptions | null;
}

const port = parentPort!;
const data = workerData as ThreadData;
const control = new Int32Array(data.control);
const answers = new Uint8Array(data.answers);
const post = (message: FromWorker) => port.postMessage(message);
let lastCallId = 0;
/** How long a host call spins before it sleeps (see call). */
const SPIN_MS = 0.2;

/** Posts a blocking request and waits for the host's answer, or the run's deadline. */
function call(runId: number, kind: CallKind, payload: Uint8Array, runDeadlineMs: number): Uint8Array {
  const callId = ++lastCallId;
  post({ type: "call", runId, callId, kind, payload });
  // One timeout governs a host function (functionTimeout, on the host); the engine waits until the run's deadline.
  const deadline = runDeadlineMs;
  // Most answers come back within tens of microseconds: spin briefly before
  // sleeping, since waking a sleeping thread (an idle vCPU) costs more.
  const spinUntil = performance.now() + SPIN_MS;
  while (Atomics.load(control, CONTROL.ANSWER_ID) !== callId && performance.now() < spinUntil);
  for (;;) {
    const answered = Atomics.load(control, CONTROL.ANSWER_ID);
    if (answered === callId) break;
    const left = deadline - performance.now();
    if (left <= 0) {
      // The run's time is up: the kernel raises TimeoutError at the guest's next step.
      return deadlineAnswer(kind);
    }
    Atomics.wait(control, CONTROL.ANSWER_ID, answered, left);
  }
  const length = Atomics.load(control, CONTROL.ANSWER_LENGTH);
  if (length < 0 || length > ANSWER_BYTES) throw new Error("bad host answer length");
  return answers.slice(0, length);
}

/** What a call cut short by the run's deadline answers: a failed host call, or the end of stdin. */
function deadlineAnswer(kind: CallKind): Uint8Array {
  return kind === "function" ? encodeValue({ ok: false, error: "TimeoutError: the run's time limit passed during the host call" }) : new Uint8Array(0);
}

const transport: WorkerTransport = {
  post,
  call,
  cancelRequested(runId) {
    // runId 0 is "no run" (a fresh boot): the CANCEL slot starts at 0, so it must not match.
    return runId !== 0 && Atomics.load(control, CONTROL.CANCEL) === runId;
  },
  stopRequested(runId) {
    return runId !== 0 && Atomics.load(control, CONTROL.STOP) === runId;
  },
  interruptRequested(runId) {
    // Taken (reset to 0) so that one request raises one KeyboardInterrupt.
    return runId !== 0 && Atomics.compareExchange(control, CONTROL.INTERRUPT, runId, 0) === runId;
  },
};

/**
 * The worker host, started. A cold start (restoring from the disk cache)
 * compiles the engine on V8's background threads while this thread reads the
 * stdlib and the snapshot; if that fails, the host starts anyway and its
 * first create reports the failure.
 */
async function start(options: WorkerHostOptions): Promise<(message: ToWorker) => void> {
  if (coldStart(options) !== null) {
    try {
      return await startWorkerHostAsync(options, transport);
    } catch {}
  }
  return startWorkerHost(options, transport);
}

/** Messages are handled in order, once the host has started. */
let host: Promise<(message: ToWorker) => void> | null = data.host === null ? null : start(data.host);
port.on("message", (message: ToWorker | { type: "init"; host: WorkerHostOptions }) => {
  if (host !== null) void host.then((handle) => handle(message as ToWorker));
  else if (message.type === "init") host = start((message as { host: WorkerHostOptions }).host);
});
