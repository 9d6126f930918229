// The pyvisor command line parser on its own (no sandbox): python's rules.
import { test } from "node:test";
import assert from "node:assert/strict";
import { resolve } from "node:path";
import { parseArgs, UsageError } from "../../src/cli/args.js";

const run = (argv: string[], env: NodeJS.ProcessEnv = {}) => {
  const parsed = parseArgs(argv, env);
  assert.equal(parsed.action, "run");
  if (parsed.action !== "run") throw new Error("unreachable");
  return parsed;
};

test("options stop at the program; everything after is the program's", () => {
  const p = run(["--memory", "64M", "-c", "code", "--timeout", "x", "-c"]);
  assert.deepEqual(p.program, { kind: "code", code: "code" });
  assert.deepEqual(p.args, ["--timeout", "x", "-c"]);
  assert.equal(p.options.memoryBytes, 64 * 1024 * 1024);
  assert.deepEqual(run(["script.py", "-m", "x"]).program, { kind: "file", path: "script.py" });
  assert.deepEqual(run(["script.py", "-m", "x"]).args, ["-m", "x"]);
  assert.deepEqual(run(["-", "a"]).program, { kind: "stdin" });
  assert.deepEqual(run(["-", "a"]).args, ["a"]);
  assert.deepEqual(run([]).program, { kind: "none" });
});

test("short options cluster as with python's getopt", () => {
  assert.deepEqual(run(["-uBcprint(1)", "x"]).program, { kind: "code", code: "print(1)" });
  assert.deepEqual(run(["-um", "json.tool"]).program, { kind: "module", module: "json.tool" });
  assert.equal(run(["-qc", "1"]).options.quiet, true);
  assert.deepEqual(parseArgs(["-hz"]), { action: "help" });
  assert.deepEqual(parseArgs(["-V"]), { action: "version" });
});

test("-- makes the next argument the FILE, even '-c'", () => {
  const p = run(["--", "-c", "y"]);
  assert.deepEqual(p.program, { kind: "file", path: "-c" });
  assert.deepEqual(p.args, ["y"]);
});

test("--flag=value and --flag value; limits in milliseconds and bytes", () => {
  const p = run(["--timeout=0.25", "--cpu-time", "2", "--output-limit=1K", "--seed=9", "-c", "1"]);
  assert.equal(p.options.timeoutMs, 250);
  assert.equal(p.options.cpuTimeMs, 2000);
  assert.equal(p.options.outputLimitBytes, 1024);
  assert.equal(p.options.seed, 9);
  assert.equal(p.options.deterministic, true, "--seed implies --deterministic");
});

test("mounts: ro by default, :rw, --tmp is a rw mount at /tmp; --env adds to the defaults", () => {
  const p = run(["--mount", "/tmp:/data", "--mount", "/tmp:/out/:rw", "--tmp", "/tmp", "--env", "A=1=2", "-c", "1"]);
  assert.deepEqual(p.options.mounts, [
    { host: "/tmp", guest: "/data", readonly: true },
    { host: "/tmp", guest: "/out", readonly: false },
    { host: "/tmp", guest: "/tmp", readonly: false },
  ]);
  assert.equal(p.options.env.A, "1=2");
  assert.equal(p.options.env.HOME, "/home/user");
});

test("isolation: --isolation, else PYVISOR_ISOLATION, else process", () => {
  assert.equal(run(["-c", "1"]).options.isolation, "process");
  assert.equal(run(["--isolation", "inline", "-c", "1"]).options.isolation, "inline");
  assert.equal(run(["-c", "1"], { PYVISOR_ISOLATION: "thread" }).options.isolation, "thread");
  assert.equal(run(["--isolation", "process", "-c", "1"], { PYVISOR_ISOLATION: "thread" }).options.isolation, "process");
});

test("mistakes are UsageErrors", () => {
  for (const argv of [["--nope"], ["-x"], ["--memory"], ["--memory", "lots"], ["--env", "=v"], ["--timeout", "-1"], ["--mount", "/tmp:/a:rx"]]) {
    assert.throws(() => parseArgs(argv, {}), UsageError, argv.join(" "));
  }
});

test("--no-default-env starts the environment empty, wherever it stands; --env still adds", () => {
  assert.deepEqual(run(["--env", "A=1", "--no-default-env", "-c", "1"]).options.env, { A: "1" });
  assert.deepEqual(run(["--no-default-env", "-c", "1"]).options.env, {});
  assert.equal(run(["--env", "HOME=/x", "-c", "1"]).options.env.HOME, "/x");
});

test("--package is repeatable, kept in order and made absolute (Sandbox.create checks the files)", () => {
  const p = run(["--package", "a.whl", "--package=/w/b-1.0-py3-none-any.whl", "-c", "1"]);
  assert.deepEqual(p.options.packages, [resolve("a.whl"), "/w/b-1.0-py3-none-any.whl"]);
  assert.deepEqual(run(["-c", "1"]).options.packages, []);
  assert.throws(() => parseArgs(["--package", "", "-c", "1"], {}), /--package: expected a wheel/);
});

test("--setup takes an existing file, and refuses --deterministic (a template is a snapshot, not reproducible)", () => {
  assert.match(run(["--setup", "package.json", "-c", "1"]).options.setup ?? "", /package\.json$/);
  assert.throws(() => parseArgs(["--setup", "no-such-setup.py", "-c", "1"]), UsageError);
  assert.throws(() => parseArgs(["--setup", "package.json", "--seed", "3", "-c", "1"]), /--deterministic/);
});

test("engine: --engine default|scientific, else default; another name is a usage error", () => {
  assert.equal(run(["-c", "1"]).options.engine, "default");
  assert.equal(run(["--engine", "scientific", "-c", "1"]).options.engine, "scientific");
  assert.equal(run(["--engine=scientific", "-c", "1"]).options.engine, "scientific");
  assert.throws(() => parseArgs(["--engine", "numpy", "-c", "1"]), (error: unknown) => error instanceof UsageError && /--engine: expected "default" or "scientific"/.test(error.message));
});
