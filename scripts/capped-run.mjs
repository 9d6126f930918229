// What both conformance runners share: running one side's command under a
// wall-clock cap, and decoding the XML entities of the junit files they read.
import { spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";

// The running side's process group (children are detached so that a cap kills
// the whole group); killed with us when the run is interrupted.
let runningGroup = null;
let handlersInstalled = false;

function installSignalHandlers() {
  if (handlersInstalled) return;
  handlersInstalled = true;
  for (const signal of ["SIGINT", "SIGTERM"]) {
    process.on(signal, () => {
      if (runningGroup) { try { process.kill(-runningGroup, "SIGKILL"); } catch { /* already gone */ } }
      process.exit(130);
    });
  }
}

/** Runs a command with a wall-clock cap (its whole process group killed at the cap); resolves { code, timedOut }, output to the log file. */
export function capped(command, args, { cwd, env, capS, log }) {
  installSignalHandlers();
  return new Promise((ok) => {
    const fd = openSync(log, "w");
    const child = spawn(command, args, { cwd, env, stdio: ["ignore", fd, fd], detached: true });
    runningGroup = child.pid;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try { process.kill(-child.pid, "SIGKILL"); } catch { /* already gone */ }
    }, capS * 1000);
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      runningGroup = null;
      closeSync(fd);
      ok({ code: code ?? signal, timedOut });
    });
  });
}

export function decodeEntities(text) {
  return text.replace(/&(lt|gt|quot|apos|amp|#(\d+)|#x([0-9a-f]+));/gi, (m, name, dec, hex) =>
    dec ? String.fromCodePoint(+dec) : hex ? String.fromCodePoint(parseInt(hex, 16))
      : { lt: "<", gt: ">", quot: '"', apos: "'", amp: "&" }[name.toLowerCase()]);
}
