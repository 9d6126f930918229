// The pyvisor command as a person at a terminal uses it: stdin read as the
// program asks for it (a prompt shows before the line is typed), and Ctrl-C
// raising KeyboardInterrupt in the program, which may catch it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { BIN } from "./helpers.js";

/** The engine in the pyvisor process (inline): no worker process to start per test. The default, process, has tests of its own. */
const T: string[] = ["--isolation", "inline"];
/** Far beyond any of these runs on a loaded machine; only a hang reaches it. */
const HANG_MS = 60_000;

interface Live {
  child: ChildProcessWithoutNullStreams;
  /** Resolves once stdout holds `text`. */
  waitFor(text: string): Promise<void>;
  /** Resolves with the exit status and everything printed. */
  exit: Promise<{ status: number | null; stdout: string; stderr: string }>;
}

/**
 * Starts the CLI with piped stdio (stdin left open unless `closeStdin`);
 * `group` puts it in its own process group, so that a signal can reach the
 * whole group as from a terminal.
 */
function start(args: string[], { group = false, closeStdin = false } = {}): Live {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: "pipe", detached: group });
  if (closeStdin) child.stdin.end();
  let stdout = "";
  let stderr = "";
  const waiters: Array<{ text: string; done: () => void }> = [];
  child.stdout.on("data", (chunk: Buffer) => {
    stdout += chunk.toString();
    for (const w of waiters.filter((w) => stdout.includes(w.text))) {
      waiters.splice(waiters.indexOf(w), 1);
      w.done();
    }
  });
  child.stderr.on("data", (chunk: Buffer) => { stderr += chunk.toString(); });
  const timer = setTimeout(() => child.kill("SIGKILL"), HANG_MS);
  const exit = new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
    child.on("exit", (status) => {
      clearTimeout(timer);
      // Let the pipes drain.
      setImmediate(() => resolve({ status, stdout, stderr }));
    });
  });
  return {
    child,
    waitFor: (text) => new Promise<void>((done, fail) => {
      if (stdout.includes(text)) return done();
      waiters.push({ text, done });
      void exit.then((r) => fail(new Error(`exited ${r.status} before printing ${JSON.stringify(text)}: ${r.stdout} ${r.stderr}`)));
    }),
    exit,
  };
}

test("input() shows its prompt and waits for the caller's line instead of the end of stdin", async () => {
  const run = start([...T, "-c", "print('hi', input('name? '))\nprint(input('again? '))"]);
  await run.waitFor("name? ");
  run.child.stdin.write("Ada\n");
  await run.waitFor("again? ");
  run.child.stdin.end("Bob\n");
  const r = await run.exit;
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, "name? hi Ada\nagain? Bob\n");
});

test("a program that never reads stdin does not wait for the caller to close it", async () => {
  const run = start([...T, "-c", "print('done')"]);
  const r = await run.exit;
  run.child.stdin.destroy();
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, "done\n");
});

test("stdin that never ends (yes | pyvisor) is read only as far as the program reads", async () => {
  const run = start([...T, "-c", "print(input(), input())"]);
  const line = Buffer.from("y\n".repeat(32 * 1024));
  const feed = () => { if (run.child.stdin.writable) run.child.stdin.write(line, feed); };
  run.child.stdin.on("error", () => {}); // the CLI exits while the feed still writes
  feed();
  const r = await run.exit;
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, "y y\n");
});

const CATCHES = "import time\ntry:\n    print('ready', flush=True)\n    time.sleep(30)\nexcept KeyboardInterrupt:\n    print('caught')";

test("Ctrl-C runs the program's own except KeyboardInterrupt: it prints and exits 0", async () => {
  const run = start([...T, "-c", CATCHES], { closeStdin: true });
  await run.waitFor("ready");
  run.child.kill("SIGINT");
  const r = await run.exit;
  assert.equal(r.stdout, "ready\ncaught\n");
  assert.equal(r.status, 0, r.stderr);
});

test("a terminal's Ctrl-C reaching the whole process group (worker process too) still runs the program's handler", async () => {
  const run = start(["--isolation", "process", "-c", CATCHES], { group: true, closeStdin: true });
  await run.waitFor("ready");
  process.kill(-run.child.pid!, "SIGINT");
  const r = await run.exit;
  assert.equal(r.stdout, "ready\ncaught\n");
  assert.equal(r.status, 0, r.stderr);
});

test("a terminal's Ctrl-C reaching the whole process group of an inline run (its helper threads too) runs the program's handler once", async () => {
  const run = start([...T, "-c", CATCHES], { group: true, closeStdin: true });
  await run.waitFor("ready");
  process.kill(-run.child.pid!, "SIGINT");
  const r = await run.exit;
  assert.equal(r.stdout, "ready\ncaught\n");
  assert.equal(r.status, 0, r.stderr);
});

test("Ctrl-C while input() waits raises KeyboardInterrupt there, which the program catches", async () => {
  const run = start([...T, "-c", "try:\n    input('name? ')\nexcept KeyboardInterrupt:\n    print('caught')"]);
  await run.waitFor("name? ");
  run.child.kill("SIGINT");
  const r = await run.exit;
  assert.equal(r.stdout, "name? caught\n");
  assert.equal(r.status, 0, r.stderr);
});

test("an unhandled Ctrl-C prints python's traceback ending in KeyboardInterrupt and exits 130", async () => {
  const run = start([...T, "-c", "import time\nprint('ready', flush=True)\ntime.sleep(30)"], { closeStdin: true });
  await run.waitFor("ready");
  run.child.kill("SIGINT");
  const r = await run.exit;
  assert.equal(r.status, 130, r.stderr);
  assert.match(r.stderr, /^Traceback \(most recent call last\):\n {2}File "<string>", line 3, in <module>\n {4}time\.sleep\(30\)\n[^]*\nKeyboardInterrupt\n$/);
});

test("a program that ignores Ctrl-C is cancelled by the second one: exit 130", async () => {
  const run = start([...T, "-c", "while True:\n    try:\n        print('ready', flush=True)\n        while True: pass\n    except KeyboardInterrupt:\n        print('ignored', flush=True)"], { closeStdin: true });
  await run.waitFor("ready");
  run.child.kill("SIGINT");
  await run.waitFor("ignored");
  run.child.kill("SIGINT");
  const r = await run.exit;
  assert.equal(r.status, 130, r.stderr);
  assert.match(r.stderr, /KeyboardInterrupt\n$/);
});
