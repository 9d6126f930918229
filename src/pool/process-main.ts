// Entry of a worker process: hosts one worker thread and relays messages
// between it and the pool over IPC. If a guest crashes V8 (Node 20/22), this
// process dies and the pool replaces it; the host process is untouched.
// The thread starts (and loads its modules) at once; the pool's options come
// as the first message (prestart.ts: the CLI starts this process before it
// knows them).
import { ThreadLink, type FromProcess, type ToProcess } from "./links.js";

const hostPid = Number(process.argv[2]);
/** How often the worker checks that its host is still alive. */
const HOST_CHECK_MS = 1000;
const send = (message: FromProcess) => process.send!(message);
const pendingCalls = new Map<number, (payload: Uint8Array) => void>();
let nextCallId = 1;

const link = new ThreadLink({
  message: (message) => send({ type: "thread", message }),
  call: (runId, kind, payload) => new Promise<Uint8Array>((resolve) => {
    const callId = nextCallId++;
    pendingCalls.set(callId, resolve);
    send({ type: "call", callId, runId, kind, payload });
  }),
  exit: (reason) => {
    send({ type: "exit", reason });
    process.exit(1);
  },
}, null);
link.setBusy(true);

process.on("message", (message: ToProcess) => {
  if (message.type === "init") link.init(message.options);
  else if (message.type === "thread") link.send(message.message);
  else if (message.type === "cancel") link.cancel(message.runId);
  else if (message.type === "interrupt") link.interrupt(message.runId);
  else if (message.type === "stop") link.stop(message.runId);
  else if (message.type === "answer") {
    pendingCalls.get(message.callId)?.(message.payload);
    pendingCalls.delete(message.callId);
  }
});
// A terminal's Ctrl-C reaches the whole process group, this process too: what
// it means (KeyboardInterrupt in the guest, a cancel) is the host's to decide.
process.on("SIGINT", () => {});
// The pool going away ends this process: the IPC channel closes (pool.close(),
// the host exiting or being killed). It may have closed before this module
// ran (ES modules load asynchronously), hence the check; and a host that is
// gone without the channel saying so (its fd held elsewhere) is seen when this
// process is re-parented: the parent pid is read anew each time, so a recycled
// pid cannot pass for the host.
const leave = () => process.exit(0);
process.on("disconnect", leave);
if (!process.connected) leave();
setInterval(() => {
  if (process.ppid !== hostPid) leave();
}, HOST_CHECK_MS).unref();
