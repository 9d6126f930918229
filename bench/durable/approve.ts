// The durable-pause demo, across processes: one process runs a program until
// it asks the host to approve a payment, saves the paused run to a file and
// exits; another process restores it and answers.
//   node dist/bench/durable/approve.js pause FILE      (runs, pauses, saves, exits)
//   node dist/bench/durable/approve.js resume FILE     (restores, answers True)
//   node dist/bench/durable/approve.js throw FILE      (restores, raises HostError in Python)
// The key comes from PYVISOR_DEMO_KEY (a demo default otherwise).
import { readFileSync, writeFileSync } from "node:fs";
import { PausedRun, Pool, Sandbox, type RunStep } from "../../src/api/index.js";

const PROGRAM = `
from pyvisor.host import approve
import pyvisor, random
orders = [("books", 42), ("laptop", 1299)]
random.seed(3)
ref = random.randrange(10**6)
print(f"order ref {ref}: {len(orders)} items", flush=True)
total = sum(price for _, price in orders)
try:
    ok = approve(total, currency="EUR")
except pyvisor.HostError as e:
    print(f"approval failed: {e}")
    ok = False
print("approved" if ok else "refused", total, "ref", ref)
ok
`;

const key = process.env.PYVISOR_DEMO_KEY ?? "demo key: use 32 random bytes in production";
const [mode, file] = process.argv.slice(2);
if (file === undefined || !["pause", "resume", "throw"].includes(mode ?? "")) {
  console.error("usage: approve.js pause|resume|throw FILE");
  process.exit(2);
}
// A host function that would decide at once if the run were not paused (sb.run uses it).
const functions = { approve: (amount: number) => amount < 1000 };
const pool = new Pool({ size: 1 });

function show(step: RunStep): void {
  if (step.done) {
    console.log(`done: value=${JSON.stringify(step.result.value)} error=${step.result.error?.type ?? null}`);
    process.stdout.write(step.result.stdout.replace(/^(?=.)/gm, "  python> "));
  } else {
    console.log(`paused at ${step.call.name}(${JSON.stringify(step.call.args)}, ${JSON.stringify(step.call.kwargs)})`);
    process.stdout.write(step.partial.stdout.replace(/^(?=.)/gm, "  python> "));
  }
}

if (mode === "pause") {
  const sb = await Sandbox.create({ pool, functions });
  const step = await sb.start(PROGRAM, { pause: ["approve"] });
  show(step);
  if (!step.done) {
    const bytes = await step.save({ key });
    writeFileSync(file, bytes);
    console.log(`saved ${bytes.length} bytes to ${file} (pid ${process.pid})`);
  }
} else {
  const started = performance.now();
  const paused = await PausedRun.restore(readFileSync(file), { key, pool, functions });
  console.log(`restored in pid ${process.pid} (${Math.round(performance.now() - started)} ms): waiting in ${paused.call.name}(${JSON.stringify(paused.call.args)})`);
  const resumedAt = performance.now();
  show(mode === "resume" ? await paused.resume(true) : await paused.throw("the approver is on holiday"));
  console.log(`resumed in ${Math.round(performance.now() - resumedAt)} ms`);
}
await pool.close();
