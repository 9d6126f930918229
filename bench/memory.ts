// Memory per idle sandbox, as bench/spawn and bench/scientific measure it.
import { Pool, Sandbox, type EngineName } from "../src/api/index.js";

/** Resident memory added per idle sandbox (each has run `program`), on a pool of one thread in this process. */
export async function memoryPerIdleSandbox(count: number, program: string, engine: EngineName = "default"): Promise<number> {
  const pool = new Pool({ size: 1, isolation: "thread", engine });
  await (await Sandbox.create({ pool })).dispose();
  await new Promise((resolve) => setTimeout(resolve, 200));
  const before = process.memoryUsage().rss;
  const sandboxes: Sandbox[] = [];
  for (let i = 0; i < count; i++) {
    const sandbox = await Sandbox.create({ pool });
    await sandbox.run(program);
    sandboxes.push(sandbox);
  }
  await new Promise((resolve) => setTimeout(resolve, 200));
  const after = process.memoryUsage().rss;
  for (const sandbox of sandboxes) await sandbox.dispose();
  await pool.close();
  return (after - before) / count;
}
