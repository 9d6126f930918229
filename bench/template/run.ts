// Template spawn figures (issue 14): a bare sandbox vs a sandbox of a template
// whose setup imported a set of modules, and the same imports paid per run
// without a template; memory per idle sandbox; spawn with hash secret
// rotation on and off. Worker threads, one worker, so that the figures are
// the engine's, not the IPC's.
//   npm run bench:template            (add --quick for fewer iterations; --placement for the process-pool part only)
import { execFileSync } from "node:child_process";
import { Pool, Sandbox, Template } from "../../src/api/index.js";

const quick = process.argv.includes("--quick");
const N = quick ? 20 : 60;
const IMPORTS = "import json, decimal, sqlite3, email, asyncio";
/** A setup that loads far more of the stdlib (the "20 MB of modules" case, as near as the stdlib gets). */
const HEAVY = [
  IMPORTS,
  "import email.mime.multipart, email.mime.text, email.parser, http.client, urllib.request, xml.etree.ElementTree, xml.dom.minidom",
  "import unittest, argparse, logging.handlers, difflib, tarfile, zipfile, csv, statistics, fractions, dataclasses, typing",
  "import inspect, pydoc, pickle, shelve, sqlite3.dump, tomllib, textwrap, pprint, calendar, ipaddress, uuid, secrets, string",
  "import concurrent.futures, asyncio.streams, html.parser, configparser, gettext, locale, codecs, encodings.idna, pdb, doctest",
  "tables = {i: str(i) * 8 for i in range(200_000)}",
].join("\n");

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const ms = (x: number) => `${x.toFixed(2)} ms`;
const load = () => execFileSync("uptime", { encoding: "utf8" }).trim().replace(/.*load average: /, "load ");

/** Median time to a new sandbox (`make`), and to it plus its first run of `code`. */
async function spawn(make: () => Promise<Sandbox>, code: string): Promise<{ create: number; firstRun: number }> {
  const create: number[] = [];
  const firstRun: number[] = [];
  for (let i = 0; i < N; i++) {
    const start = performance.now();
    const sandbox = await make();
    create.push(performance.now() - start);
    const result = await sandbox.run(code);
    firstRun.push(performance.now() - start);
    if (result.error !== null) throw new Error(`${result.error.type}: ${result.error.message}`);
    await sandbox.dispose();
    await new Promise((resolve) => setTimeout(resolve, 5)); // let the engine restore the next one
  }
  return { create: median(create), firstRun: median(firstRun) };
}

/** Resident memory added per idle sandbox (each has run once), in this process. */
async function memoryPerSandbox(make: () => Promise<Sandbox>, count: number): Promise<number> {
  await new Promise((resolve) => setTimeout(resolve, 200));
  const before = process.memoryUsage().rss;
  const sandboxes: Sandbox[] = [];
  for (let i = 0; i < count; i++) {
    const sandbox = await make();
    await sandbox.run("x = 1");
    sandboxes.push(sandbox);
  }
  await new Promise((resolve) => setTimeout(resolve, 200));
  const after = process.memoryUsage().rss;
  for (const sandbox of sandboxes) await sandbox.dispose();
  return (after - before) / count;
}

function line(label: string, figures: { create: number; firstRun: number }): void {
  console.log(`${label.padEnd(58)} create ${ms(figures.create).padStart(9)}, + first run ${ms(figures.firstRun).padStart(9)}   (${load()})`);
}

/**
 * Where a template lives: on a pool of worker processes its state is captured
 * in the worker that ran the setup, copied to the host and installed in every
 * other worker; its sandboxes are then placed on any worker.
 */
async function placement(): Promise<void> {
  const processes = new Pool({ size: 2, isolation: "process", hashSecretRotation: false });
  await Promise.all([Sandbox.create({ pool: processes }), Sandbox.create({ pool: processes })].map(async (made) => (await made).dispose()));
  const begin = performance.now();
  const t = await Template.create({ pool: processes, setup: HEAVY });
  console.log(`Template.create (heavy) on 2 worker processes, installed in both: ${ms(performance.now() - begin)}   (${load()})`);
  line("heavy template sandbox, worker processes, run `len(tables)`", await spawn(() => t.sandbox(), "len(tables)"));
  await t.dispose();
  await processes.close();
}
if (process.argv.includes("--placement")) {
  await placement();
  process.exit(0);
}

console.log(`pyvisor template benchmark on Node ${process.version}, ${N} sandboxes per figure, worker threads\n`);
const pool = new Pool({ size: 1, isolation: "thread", hashSecretRotation: false });
await (await Sandbox.create({ pool })).dispose();
let start = performance.now();
const template = await Template.create({ pool, setup: IMPORTS });
console.log(`Template.create (${IMPORTS}): ${ms(performance.now() - start)}, ${(template.memoryBytes / 2 ** 20).toFixed(0)} MiB of memory`);
start = performance.now();
const heavy = await Template.create({ pool, setup: HEAVY });
console.log(`Template.create (heavy: ~70 stdlib modules + a 200k-entry dict): ${ms(performance.now() - start)}, ${(heavy.memoryBytes / 2 ** 20).toFixed(0)} MiB of memory\n`);

line("bare sandbox, run `1`", await spawn(() => Sandbox.create({ pool }), "1"));
line("template sandbox (setup imported them), run `json.dumps(1)`", await spawn(() => template.sandbox(), "json.dumps(1)"));
line("heavy template sandbox, run `len(tables)`", await spawn(() => heavy.sandbox(), "len(tables)"));
line(`bare sandbox, run \`${IMPORTS}\``, await spawn(() => Sandbox.create({ pool }), IMPORTS));
console.log();
const count = quick ? 8 : 20;
console.log(`memory per idle sandbox: bare ${(await memoryPerSandbox(() => Sandbox.create({ pool }), count) / 2 ** 20).toFixed(1)} MiB, `
  + `template ${(await memoryPerSandbox(() => template.sandbox(), count) / 2 ** 20).toFixed(1)} MiB, `
  + `heavy template ${(await memoryPerSandbox(() => heavy.sandbox(), count) / 2 ** 20).toFixed(1)} MiB   (${load()})`);
await template.dispose();
await heavy.dispose();
await pool.close();

// Rotation: a new snapshot every 10 sandboxes (far more often than the default 1000), booted on the helper thread.
console.log();
for (const rotation of [false, { sandboxes: 10 }] as const) {
  const rotating = new Pool({ size: 1, isolation: "thread", hashSecretRotation: rotation });
  await (await Sandbox.create({ pool: rotating })).dispose();
  line(`bare sandbox, rotation ${rotation === false ? "off" : "every 10 sandboxes"}, run \`1\``, await spawn(() => Sandbox.create({ pool: rotating }), "1"));
  await rotating.close();
}
console.log();
await placement();
