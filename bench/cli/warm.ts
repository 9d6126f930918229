// The warm-API side of bench/cli: one script through a long-lived sandbox on
// the default pool, after warm-up runs, so that V8 has tiered up everything
// the script touches. Prints the in-Python ms of each measured run as JSON.
//   node warm.js <script.py> <warm-up runs> <measured runs>
import { readFileSync } from "node:fs";
import { Pool, Sandbox } from "../../src/api/index.js";

const [path, warmups, measured] = [process.argv[2]!, Number(process.argv[3]), Number(process.argv[4])];
const code = readFileSync(path, "utf8");
const pool = new Pool({ size: 1 });
const sandbox = await Sandbox.create({ pool });
const times: number[] = [];
for (let i = 0; i < warmups + measured; i++) {
  const result = await sandbox.run(code);
  if (result.error) throw new Error(`${path}: ${result.error.message}`);
  if (i >= warmups) times.push(Number(result.stdout.trim().split("\n").at(-1)));
}
await sandbox.dispose();
await pool.close();
process.stdout.write(JSON.stringify(times) + "\n");
