// Entry of a helper thread that boots fresh snapshots for its worker thread
// (hash secret rotation, see host.ts): a boot takes 150-250 ms of CPU,
// which here does not hold up the sandboxes the worker thread serves.
// Each message asks for one snapshot; the answer is the snapshot, or null.
import { parentPort, workerData } from "node:worker_threads";
import { adoptEngine, type Engine } from "../engine/engine.js";
import { bootSnapshot } from "./guest-sandbox.js";

const port = parentPort!;
adoptEngine((workerData as { engine: Engine }).engine);

port.on("message", () => {
  const snapshot = bootSnapshot();
  port.postMessage(snapshot, snapshot === null ? [] : snapshot.runs.map((run) => run.bytes.buffer as ArrayBuffer));
});
