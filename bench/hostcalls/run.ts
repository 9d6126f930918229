// Host-function call throughput: a trivial host function called in a Python
// loop, on worker processes and worker threads.
//   npm run build && node dist/bench/hostcalls/run.js
import { Pool, Sandbox } from "../../src/api/index.js";

const CALLS = 20_000;
for (const isolation of ["thread", "process"] as const) {
  const pool = new Pool({ size: 1, isolation });
  const sb = await Sandbox.create({ pool, maxFunctionCalls: CALLS + 10, functions: { inc: (x: number) => x + 1 } });
  await sb.run("from pyvisor.host import inc\ninc(0)");
  const result = await sb.run(`import time\nt = time.perf_counter()\nx = 0\nfor _ in range(${CALLS}): x = inc(x)\n(x, time.perf_counter() - t)`);
  const [count, seconds] = result.value as [number, number];
  console.log(`${isolation.padEnd(8)} ${count} calls in ${(seconds * 1000).toFixed(0)} ms: ${Math.round(count / seconds)} calls/s (${((seconds / count) * 1e6).toFixed(1)} µs per call)`);
  await sb.dispose();
  await pool.close();
}
