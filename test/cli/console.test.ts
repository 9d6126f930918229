// The interactive console, driven as a person would: pyvisor runs in a tmux
// pane (a real terminal), keys go in with `tmux send-keys`, and the screen is
// read back with `tmux capture-pane`. tmux runs on a private socket, so no
// other tmux server is touched.
//
// With PYVISOR_CONSOLE_CAPTURE=<file> the final screen is saved there
// (docs/console-session.txt is made this way).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { BIN, ROOT } from "./helpers.js";

const hasTmux = spawnSync("tmux", ["-V"]).status === 0;
const SOCKET = `pyvisor-console-test-${process.pid}`;
const SESSION = "console";

function tmux(...args: string[]): string {
  return execFileSync("tmux", ["-L", SOCKET, ...args], { encoding: "utf8" });
}

function screen(): string {
  return tmux("capture-pane", "-p", "-t", SESSION).replace(/\s+$/, "") + "\n";
}

/** The screen's lines, blank ones dropped. */
function lines(): string[] {
  return screen().split("\n").map((line) => line.trimEnd()).filter((line) => line !== "");
}

async function waitFor(what: string, predicate: (lines: string[]) => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (predicate(lines())) return;
    await sleep(100);
  }
  assert.fail(`timed out waiting for ${what}; the screen was:\n${screen()}`);
}

const last = (l: string[]) => l[l.length - 1] ?? "";
const keys = (...k: string[]) => tmux("send-keys", "-t", SESSION, ...k);
/** Types one line of text (literally) and presses Enter. */
const typeLine = (text: string) => {
  if (text !== "") tmux("send-keys", "-t", SESSION, "-l", text);
  keys("Enter");
};

test("console session: a multi-line def, Ctrl-C of a busy loop, a call, Ctrl-D", { skip: hasTmux ? false : "tmux is not installed" }, async () => {
  const command = `echo '$ pyvisor'; '${process.execPath}' '${BIN}'; echo "[pyvisor exited with status $?]"; sleep 600`;
  tmux("new-session", "-d", "-s", SESSION, "-x", "120", "-y", "40", "-c", ROOT, command);
  try {
    await waitFor("the banner and the first prompt", (l) => l.some((x) => x.startsWith("Python 3.13")) && last(l) === ">>>");

    typeLine("def sq(x):");
    await waitFor("the continuation prompt", (l) => last(l) === "...");
    typeLine("    return x * x");
    await waitFor("the second continuation prompt", (l) => last(l) === "..." && l[l.length - 2] === "...     return x * x");
    typeLine("");
    await waitFor("the block to end", (l) => last(l) === ">>>");

    typeLine("while True: pass");
    await waitFor("the continuation prompt after while", (l) => last(l) === "..." && l[l.length - 2] === ">>> while True: pass");
    typeLine("");
    await waitFor("the loop to start (no prompt)", (l) => last(l) === "...", 5_000);
    await sleep(800);
    assert.equal(last(lines()), "...", "the loop is still running: no new prompt");
    keys("C-c");
    await waitFor("KeyboardInterrupt and a new prompt", (l) => last(l) === ">>>" && l[l.length - 2] === "^CKeyboardInterrupt");

    typeLine("sq(7)");
    await waitFor("49", (l) => last(l) === ">>>" && l[l.length - 2] === "49" && l[l.length - 3] === ">>> sq(7)");

    typeLine("1/0");
    await waitFor("the traceback", (l) => last(l) === ">>>" && l[l.length - 2] === "ZeroDivisionError: division by zero");

    keys("C-d");
    await waitFor("the exit", (l) => last(l) === "[pyvisor exited with status 0]");

    const final = screen();
    const expected = [
      "$ pyvisor",
      ">>> def sq(x):",
      "...     return x * x",
      "...",
      ">>> while True: pass",
      "...",
      "^CKeyboardInterrupt",
      ">>> sq(7)",
      "49",
      ">>> 1/0",
      "Traceback (most recent call last):",
      '  File "<stdin>", line 1, in <module>',
      "ZeroDivisionError: division by zero",
      ">>>",
      "[pyvisor exited with status 0]",
    ];
    const shown = lines().filter((l) => !l.startsWith("Python 3.13") && !l.startsWith("Type exit"));
    assert.deepEqual(shown, expected);
    if (process.env.PYVISOR_CONSOLE_CAPTURE) writeFileSync(process.env.PYVISOR_CONSOLE_CAPTURE, final);
  } finally {
    spawnSync("tmux", ["-L", SOCKET, "kill-server"]);
  }
});

test("console: input() shows its prompt, reads the line typed (edited with backspace) and the session goes on", { skip: hasTmux ? false : "tmux is not installed" }, async () => {
  const command = `'${process.execPath}' '${BIN}' -q; echo "[pyvisor exited with status $?]"; sleep 600`;
  tmux("new-session", "-d", "-s", SESSION, "-x", "120", "-y", "40", "-c", ROOT, command);
  try {
    await waitFor("the first prompt", (l) => last(l) === ">>>");
    typeLine("x = input('name? ')");
    await waitFor("input()'s prompt", (l) => last(l) === "name?");
    tmux("send-keys", "-t", SESSION, "-l", "Adx");
    keys("BSpace");
    typeLine("a");
    await waitFor("the next console prompt", (l) => last(l) === ">>>" && l[l.length - 2] === "name? Ada");
    typeLine("x");
    await waitFor("the value read", (l) => last(l) === ">>>" && l[l.length - 2] === "'Ada'");
    keys("C-d");
    await waitFor("the exit", (l) => last(l) === "[pyvisor exited with status 0]");
  } finally {
    spawnSync("tmux", ["-L", SOCKET, "kill-server"]);
  }
});
