// `pyvisor serve` as a user starts it: refusing to start without a token,
// usage errors, and the graceful shutdown on SIGTERM (stop accepting, let the
// run in flight finish and answer, close the pool, exit 0).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { createServer, type AddressInfo } from "node:net";
import { parseServeArgs, ServeUsageError } from "../../src/serve/main.js";
import { parseArgs } from "../../src/cli/args.js";
import { BIN, pyvisor, ROOT } from "../cli/helpers.js";
import { TOKEN } from "./helpers.js";

const envWithout = (name: string) => Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== name));

test("pyvisor serve without any token refuses to start (exit 2) rather than serve unauthenticated", () => {
  const run = pyvisor(["serve", "--port", "0"], { env: envWithout("PYVISOR_TOKEN") });
  assert.equal(run.status, 2);
  assert.match(run.stderr, /no token: set PYVISOR_TOKEN or pass --token-file/);
});

test("pyvisor serve with an unknown option is a usage error (exit 2)", () => {
  const run = pyvisor(["serve", "--prot", "80"], { env: { ...process.env, PYVISOR_TOKEN: TOKEN } });
  assert.equal(run.status, 2);
  assert.match(run.stderr, /unknown option --prot/);
});

test("pyvisor serve --help and pyvisor mcp --help print their usage", () => {
  assert.match(pyvisor(["serve", "--help"]).stdout, /^usage: pyvisor serve/);
  assert.match(pyvisor(["mcp", "--help"]).stdout, /^usage: pyvisor mcp/);
});

test("serve and mcp are subcommands only as the first argument: after an option they are a program file", () => {
  assert.deepEqual(parseArgs(["serve", "--port", "1"]), { action: "service", command: "serve", args: ["--port", "1"] });
  const parsed = parseArgs(["-u", "serve"]);
  assert.equal(parsed.action, "run");
  assert.deepEqual(parsed.action === "run" && parsed.program, { kind: "file", path: "serve" });
});

test("serve options are checked: a port out of range, a non-numeric quota, a bad size", () => {
  assert.throws(() => parseServeArgs(["--port", "70000"]), ServeUsageError);
  assert.throws(() => parseServeArgs(["--max-runs", "0"]), ServeUsageError);
  assert.throws(() => parseServeArgs(["--max-body", "lots"]), ServeUsageError);
  assert.throws(() => parseServeArgs(["--port"]), /needs an argument/);
  assert.equal(parseServeArgs(["--port=0", "--cpu-per-minute", "1.5"]).cpuSecondsPerMinute, 1.5);
});

test("SIGTERM drains: the run in flight finishes and answers, new requests are refused, the process exits 0", async () => {
  const child = spawn(process.execPath, [BIN, "serve", "--port", "0", "--pool-size", "1"], { cwd: ROOT, env: { ...process.env, PYVISOR_TOKEN: TOKEN }, stdio: ["ignore", "ignore", "pipe"] });
  try {
    let stderr = "";
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (chunk) => { stderr += chunk; });
    while (!/listening on (\S+)/.test(stderr)) {
      if (child.exitCode !== null) throw new Error(`serve exited: ${stderr}`);
      await once(child.stderr, "data");
    }
    const url = /listening on (\S+)/.exec(stderr)![1]!;
    const headers = { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" };
    const inFlight = fetch(`${url}/v1/run`, { method: "POST", headers, body: JSON.stringify({ code: "import time\ntime.sleep(1.5)\nprint('done')" }) });
    // Wait until the pool holds the run, then ask the server to stop.
    for (;;) {
      const metrics = await (await fetch(`${url}/metrics`, { headers })).text();
      if (/^pyvisor_queue_depth [1-9]/m.test(metrics)) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill("SIGTERM");
    while (!stderr.includes("draining")) await once(child.stderr, "data");
    const late = await fetch(`${url}/healthz`).then((r) => r.status, (e: Error) => e.name);
    assert.ok(late === "TypeError" || late === 503, `a request after SIGTERM was answered ${late}`);
    const answer = await (await inFlight).json() as { stdout: string; error: unknown };
    assert.equal(answer.stdout, "done\n");
    assert.equal(answer.error, null);
    const [code] = await once(child, "exit");
    assert.equal(code, 0);
    assert.match(stderr, /stopped/);
  } finally {
    if (child.exitCode === null) child.kill("SIGKILL");
  }
});

test("a port already in use: pyvisor serve says so and exits 1 instead of hanging on its pool", async () => {
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
  try {
    const port = (taken.address() as AddressInfo).port;
    const child = spawn(process.execPath, [BIN, "serve", "--port", String(port), "--pool-size", "1"], { cwd: ROOT, env: { ...process.env, PYVISOR_TOKEN: TOKEN }, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (chunk) => { stderr += chunk; });
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    const [code] = await once(child, "exit");
    clearTimeout(timer);
    assert.equal(code, 1, stderr);
    assert.match(stderr, /pyvisor serve: cannot listen on 127\.0\.0\.1:\d+: .*EADDRINUSE/);
  } finally {
    taken.close();
  }
});
