// What the CLI does in the guest besides the user's program, and how it
// streams the guest's stderr.
import type { RunResult, Sandbox } from "../api/index.js";

/**
 * Prepares a new interpreter as python's command line would have it, without
 * binding any global:
 * - sys.path[0]: '' for -c, - and the console; the working directory for -m;
 *   the script's directory for FILE.
 * - For the console (`preload`), the modules that run inputs and format
 *   tracebacks are imported ahead (about 40 ms), so that the first input is
 *   quick and a traceback after Ctrl-C or a limit is printed whole (a stopped
 *   guest is interrupted again if its report takes long).
 */
export function setupGuest(sandbox: Sandbox, path0: string, preload = false): Promise<RunResult> {
  const code = [
    `__import__('sys').path.insert(0, ${JSON.stringify(path0)})`,
    ...(preload ? ["[__import__(name) for name in ('traceback', 'linecache', 'tokenize', 'codeop', 'code')]"] : []),
    "None",
  ].join("\n");
  return sandbox.run(code, { filename: "<pyvisor>" });
}

/**
 * Passes the guest's stderr through while the run is within its limits. Once
 * the run is cancelled, or its wall-clock limit has passed (a timer started
 * with the run, so never later than the engine's), what the guest writes is
 * the noise of its unwinding (it is interrupted again while it reports): it
 * is held, and dropped if the run was indeed stopped.
 */
export class StderrGate {
  private held: string[] = [];
  private late = false;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly write: (chunk: string) => void, timeoutMs: number, private readonly signal: AbortSignal) {
    this.timer = setTimeout(() => { this.late = true; }, timeoutMs);
  }

  readonly push = (chunk: string): void => {
    if (this.signal.aborted) return;
    if (this.late) this.held.push(chunk);
    else this.write(chunk);
  };

  /** Ends the run: held output is written unless the run was stopped. */
  close(stopped: boolean): void {
    clearTimeout(this.timer);
    if (!stopped) for (const chunk of this.held) this.write(chunk);
    this.held = [];
  }
}
