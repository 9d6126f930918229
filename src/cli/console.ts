// The interactive console: python's REPL with the interpreter in the sandbox.
// node:readline reads lines (prompts, history, editing); each line goes to the
// guest, where code.InteractiveInterpreter decides whether the block is
// complete (codeop), runs it in 'single' mode (so sys.displayhook echoes
// expression values) and prints tracebacks as python's REPL does. Ctrl-C
// cancels a running input (KeyboardInterrupt) or clears the line at the
// prompt; Ctrl-D (or `exit`) leaves. The limits apply to each input.
import { createInterface } from "node:readline";
import type { RunResult, Sandbox } from "../api/index.js";
import type { CliOptions } from "./args.js";
import { pythonVersion, pyvisorVersion } from "./help.js";
import { StderrGate, setupGuest } from "./guest.js";
import { formatSeconds, formatSize, judge, wasStopped } from "./report.js";
import type { TraceFile } from "./trace.js";

export const PS1 = ">>> ";
export const PS2 = "... ";

/**
 * Runs one console input in the guest. The source arrives as the global
 * `_pyvisor_src`, which the helper removes before running it; the interpreter
 * object lives on the sys module, so the user's globals stay untouched. The
 * value is True while the block needs more lines.
 */
export const CONSOLE_HELPER =
  "__import__('sys').__dict__.setdefault('_pyvisor_console', __import__('code').InteractiveInterpreter(globals()))" +
  ".runsource(globals().pop('_pyvisor_src'), '<stdin>', 'single')";

export function banner(options: CliOptions): string {
  const limits = [`${formatSize(options.memoryBytes)} memory`, `${formatSeconds(options.timeoutMs)} per input`];
  if (options.cpuTimeMs !== undefined) limits.push(`${formatSeconds(options.cpuTimeMs)} CPU per input`);
  if (options.deterministic) limits.push(`deterministic, seed ${options.seed ?? 0}`);
  return `Python ${pythonVersion()} in pyvisor ${pyvisorVersion()} (sandbox: ${limits.join(", ")})\n` +
    "Type exit or Ctrl-D to leave; Ctrl-C interrupts a running input.\n";
}

export function runConsole(sandbox: Sandbox, options: CliOptions, trace: TraceFile | null): Promise<number> {
  return new Promise<number>((resolveExit) => {
    if (!options.quiet) process.stdout.write(banner(options));
    const terminal = process.stdout.isTTY === true && process.stdin.isTTY === true;
    const rl = createInterface({
      input: process.stdin,
      output: process.stdout,
      terminal,
      historySize: 1000,
      removeHistoryDuplicates: true,
      prompt: PS1,
    });
    let buffer: string[] = [];
    /** Lines typed while an input runs: the guest's stdin takes them first, the rest run as inputs. */
    const queue: string[] = [];
    /** The running input waits in input() for a line (null: stdin ended). */
    let waiting: ((line: string | null) => void) | null = null;
    /** The guest's unfinished stdout line (input()'s prompt): readline redraws it while the guest waits. */
    let guestLine = "";
    let running: AbortController | null = null;
    let busy = false;
    let closing = false;
    let finished = false;

    const finish = (code: number, eof = false) => {
      if (finished) return;
      finished = true;
      if (eof) process.stdout.write("\n");
      process.off("SIGINT", interrupt);
      rl.close();
      resolveExit(code);
    };

    function interrupt(): void {
      // The terminal is in raw mode, so it does not echo ^C itself; python's terminal does.
      if (terminal) process.stdout.write("^C");
      if (busy) {
        // Cancel the running input (the guest raises KeyboardInterrupt) and drop typed-ahead lines.
        queue.length = 0;
        running?.abort();
        return;
      }
      // At the prompt: leave the typed text on screen, drop it and any unfinished block.
      process.stdout.write("\nKeyboardInterrupt\n");
      buffer = [];
      rl.setPrompt(PS1);
      if (terminal) {
        // Emptying readline's line redraws it, with the prompt, on the fresh row.
        rl.write(null, { ctrl: true, name: "e" });
        rl.write(null, { ctrl: true, name: "u" });
      } else {
        rl.prompt();
      }
    }

    /** The running input's stdin: each line typed while it runs, as the guest asks for it. */
    const runStdin = (): AsyncIterable<string> => ({
      [Symbol.asyncIterator]: () => ({
        next: async (): Promise<IteratorResult<string>> => {
          const line = queue.length > 0 ? queue.shift()! : closing ? null : await new Promise<string | null>((resolve) => {
            waiting = resolve;
            rl.setPrompt(guestLine);
          });
          return line === null ? { done: true, value: undefined } : { done: false, value: `${line}\n` };
        },
      }),
    });

    /** Runs one line; returns once the guest has answered. */
    const handle = async (line: string): Promise<void> => {
      if (buffer.length === 0) {
        const command = line.trim();
        if (command === "") return;
        if (/^(exit|quit)(\(\))?$/.test(command)) return finish(0);
      }
      buffer.push(line);
      const controller = new AbortController();
      running = controller;
      const stderr = new StderrGate((chunk) => { process.stderr.write(chunk); }, options.timeoutMs, controller.signal);
      let result: RunResult;
      try {
        // As python's REPL: stdout line-buffered to a terminal, so a long input's prints show as they come.
        const filename = "<pyvisor-console>";
        result = await sandbox.run(CONSOLE_HELPER, {
          filename, argv: [filename], stdio: { terminal: process.stdout.isTTY === true, unbuffered: options.unbuffered },
          inputs: { _pyvisor_src: buffer.join("\n") },
          stdin: runStdin(),
          signal: controller.signal,
          onStdout: (chunk) => {
            const end = chunk.lastIndexOf("\n");
            guestLine = end < 0 ? guestLine + chunk : chunk.slice(end + 1);
            process.stdout.write(chunk);
          },
          onStderr: stderr.push,
        });
      } catch (error) {
        stderr.close(false);
        buffer = [];
        process.stderr.write(`pyvisor: ${error instanceof Error ? error.message : String(error)}\n`);
        return;
      } finally {
        running = null;
        waiting = null;
        guestLine = "";
      }
      stderr.close(wasStopped(result) || controller.signal.aborted);
      if (trace && result.trace) trace.write(result.trace);
      if (result.error === null && result.value === true && !controller.signal.aborted) return; // the block goes on
      buffer = [];
      const verdict = judge(result, options, "console", controller.signal.aborted);
      if (verdict.exited && !controller.signal.aborted) return finish(verdict.exitCode);
      if (verdict.traceback) process.stderr.write(verdict.traceback);
      if (verdict.message) process.stderr.write(`${verdict.message}\n`);
      if (result.stats.reset) {
        process.stderr.write("pyvisor: the interpreter was restarted; its variables are gone\n");
        await setupGuest(sandbox, "", true);
      }
    };

    const pump = async (): Promise<void> => {
      if (busy || finished) return;
      busy = true;
      try {
        while (queue.length > 0 && !finished) await handle(queue.shift()!);
      } finally {
        busy = false;
      }
      if (finished) return;
      if (closing) return finish(0, true);
      rl.setPrompt(buffer.length > 0 ? PS2 : PS1);
      rl.prompt();
    };

    rl.on("line", (line) => {
      if (waiting !== null) {
        const give = waiting;
        waiting = null;
        guestLine = "";
        give(line);
        return;
      }
      queue.push(line);
      void pump();
    });
    rl.on("SIGINT", interrupt);
    process.on("SIGINT", interrupt);
    rl.on("close", () => {
      closing = true;
      waiting?.(null);
      waiting = null;
      void pump();
    });
    rl.prompt();
  });
}
