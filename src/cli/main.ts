// The `pyvisor` command: python's command line for a sandboxed interpreter.
// `main(argv)` parses the arguments, builds one sandbox on a pool of one
// engine, runs the program (or the console) and returns the exit status;
// bin/pyvisor.js exits with it.
import { readFileSync, realpathSync, statSync } from "node:fs";
import { basename, isAbsolute, relative, resolve as resolvePath, sep } from "node:path";
import { DEFAULTS, defaultSnapshotCacheDir, InvalidOptionsError, toJSON, Pool, Sandbox, SandboxCrashedError, Template, TemplateSetupError, type RunOptions, type RunResult, type SandboxOptions } from "../api/index.js";
import { parseArgs, UsageError, type CliOptions, type Parsed, type Program } from "./args.js";
import { HELP, SERVICE_HELP, versionLine } from "./help.js";
import { StderrGate, setupGuest } from "./guest.js";
import { EXIT, judge, wasStopped } from "./report.js";
import { readWriteMountHolding, TraceFile } from "./trace.js";
import { SigintWatch, SyncStdin } from "./inline-host.js";

/** Where the program's file is placed in the sandbox when no --mount holds it. */
const GUEST_HOME = DEFAULTS.cwd;

function usageError(message: string): number {
  process.stderr.write(`pyvisor: ${message} (see pyvisor --help)\n`);
  return EXIT.usage;
}

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}

/**
 * The caller's stdin, read only as the program reads it: a terminal gives each
 * line as it is typed (echoed and edited by the terminal itself), a pipe its
 * data as it comes, so a program that never reads does not wait for the end.
 */
function liveStdin(): AsyncIterable<Uint8Array> {
  return (async function* () {
    for await (const chunk of process.stdin) yield typeof chunk === "string" ? Buffer.from(chunk) : chunk as Buffer;
  })();
}

function decodeSource(bytes: Buffer): string {
  const text = bytes.toString("utf8");
  return text.startsWith("\uFEFF") ? text.slice(1) : text;
}

async function flush(): Promise<void> {
  await Promise.all([process.stdout, process.stderr].map((stream) => new Promise<void>((done) => stream.write("", () => done()))));
}

/** What to run, as the API runs it; options.path0 is python's sys.path[0] for the form: '' for -c, - and the console, the working directory for -m, the script's directory for FILE. */
type Prepared = ({ kind: "code"; code: string } | { kind: "file"; path: string } | { kind: "module"; module: string }) & {
  options: RunOptions;
  files: Record<string, Uint8Array>;
};


/** The guest path of a host file: its place in a --mount that holds it, else /home/user/<name>. */
function placeFile(hostPath: string, options: CliOptions): { guest: string; copy: boolean } {
  const real = realpathSync(hostPath);
  let best: { guest: string; depth: number } | null = null;
  for (const mount of options.mounts) {
    const rel = relative(realpathSync(mount.host), real);
    if (rel === "" || rel.startsWith("..") || isAbsolute(rel)) continue;
    const depth = mount.host.length;
    if (best === null || depth > best.depth) best = { guest: `${mount.guest === "/" ? "" : mount.guest}/${rel.split(sep).join("/")}`, depth };
  }
  if (best !== null) return { guest: best.guest, copy: false };
  const guest = `${GUEST_HOME}/${basename(hostPath)}`;
  const covering = options.mounts.find((m) => guest === m.guest || guest.startsWith(m.guest.endsWith("/") ? m.guest : `${m.guest}/`));
  if (covering) throw new UsageError(`cannot place ${basename(hostPath)} at ${guest}: --mount ${covering.guest} covers it (put the file in that mounted directory instead)`);
  return { guest, copy: true };
}

async function prepare(program: Exclude<Program, { kind: "none" }> | { kind: "piped" }, args: string[], options: CliOptions): Promise<Prepared> {
  // The CLI prints python-like errors itself (report.ts), and returns a final value only for --json.
  const base: RunOptions = {
    returnValue: options.json, printErrors: false,
    stdio: { terminal: !options.json && process.stdout.isTTY === true, unbuffered: options.unbuffered },
  };
  switch (program.kind) {
    case "code":
      return { kind: "code", code: program.code, options: { ...base, filename: "<string>", argv: ["-c", ...args], path0: "" }, files: {} };
    case "module":
      return { kind: "module", module: program.module, options: { ...base, argv: [program.module, ...args], path0: GUEST_HOME }, files: {} };
    case "stdin":
    case "piped": {
      const code = decodeSource(await readAll(process.stdin));
      return { kind: "code", code, options: { ...base, filename: "<stdin>", argv: [program.kind === "stdin" ? "-" : "", ...args], path0: "" }, files: {} };
    }
    case "file": {
      const hostPath = resolvePath(program.path);
      let data: Buffer;
      try {
        if (statSync(hostPath).isDirectory()) throw new UsageError(`can't run '${program.path}': it is a directory`);
        data = readFileSync(hostPath);
      } catch (error) {
        if (error instanceof UsageError) throw error;
        const e = error as NodeJS.ErrnoException;
        const reason = e.code === "ENOENT" ? "[Errno 2] No such file or directory" : e.code === "EACCES" ? "[Errno 13] Permission denied" : e.message;
        throw new UsageError(`can't open file '${program.path}': ${reason}`);
      }
      const { guest, copy } = placeFile(hostPath, options);
      return {
        kind: "file", path: guest,
        options: { ...base, argv: [guest, ...args], path0: guest.slice(0, guest.lastIndexOf("/")) || "/" },
        files: copy ? { [guest]: data } : {},
      };
    }
  }
}

/** What a shell reports for a process ended by SIGPIPE (128 + 13). */
const EXIT_BROKEN_PIPE = 141;

function createFailure(error: unknown): number {
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof TemplateSetupError) {
    // What the setup wrote, then why it failed (its traceback, as python prints an uncaught exception).
    process.stdout.write(error.stdout);
    process.stderr.write(`${error.stderr}pyvisor: --setup failed\n${error.traceback || `${error.type}: ${error.reason}\n`}`);
    return EXIT.exception;
  }
  if (error instanceof InvalidOptionsError) return usageError(message);
  // The worker died, or CPython itself did not start (guest-sandbox.ts): the sandbox crashed, not the user's options.
  if (error instanceof SandboxCrashedError || message.includes("the interpreter failed to start")) {
    process.stderr.write(`pyvisor: ${message}\n`);
    return EXIT.crashed;
  }
  return usageError(message);
}

/** Sets the Ctrl-C listener for the run; returns its removal. */
type ListenSigint = (listener: () => void) => () => void;

/** Ctrl-C through node's event loop: for a run in a worker, which leaves the loop free. */
const processSigint: ListenSigint = (listener) => {
  process.on("SIGINT", listener);
  return () => process.off("SIGINT", listener);
};

async function runProgram(sandbox: Sandbox, prepared: Prepared, stdin: AsyncIterable<Uint8Array> | Uint8Array, options: CliOptions, kind: Program["kind"], trace: TraceFile | null, listenSigint: ListenSigint): Promise<number> {
  const controller = new AbortController();
  // As in python, Ctrl-C raises KeyboardInterrupt in the program, which may
  // catch it. A program that goes on regardless is cancelled by the second
  // Ctrl-C, and a third leaves without waiting for the guest to unwind.
  let ctrlC = 0;
  const onSigint = () => {
    ctrlC++;
    if (ctrlC === 1) sandbox.interrupt();
    else if (ctrlC === 2) controller.abort();
    else {
      process.stderr.write("\nKeyboardInterrupt\n");
      process.exit(EXIT.interrupted);
    }
  };
  const unlisten = listenSigint(onSigint);
  const stderr = new StderrGate((chunk) => { process.stderr.write(chunk); }, options.timeoutMs, controller.signal);
  let result: RunResult;
  try {
    const runOptions: RunOptions = {
      ...prepared.options,
      stdin,
      signal: controller.signal,
      ...(options.json ? {} : {
        onStdout: (chunk: string) => { process.stdout.write(chunk); },
        onStderr: stderr.push,
      }),
    };
    result = await (prepared.kind === "file" ? sandbox.runFile(prepared.path, runOptions)
      : prepared.kind === "module" ? sandbox.runModule(prepared.module, runOptions)
      : sandbox.run(prepared.code, runOptions));
  } finally {
    unlisten();
  }
  const cancelled = controller.signal.aborted;
  stderr.close(wasStopped(result) || cancelled);
  if (trace && result.trace) trace.write(result.trace);
  const verdict = judge(result, options, kind, cancelled);
  if (options.json) {
    const error = result.error?.type === "ConversionError" && verdict.exitCode === 0 ? null : result.error;
    process.stdout.write(JSON.stringify({
      stdout: result.stdout,
      stderr: result.stderr + verdict.traceback,
      exitCode: verdict.exitCode,
      error,
      stats: result.stats,
      value: error === null ? toJSON(result.value ?? null) : null,
    }) + "\n");
  } else {
    if (verdict.traceback) process.stderr.write(verdict.traceback);
    if (verdict.message) process.stderr.write(`${verdict.message}\n`);
  }
  return verdict.exitCode;
}

/** Runs the pyvisor command with `argv` (without node and the script); returns the exit status. */
export async function main(argv: readonly string[]): Promise<number> {
  // A reader that stops early (`| head`) closes the pipe: end quietly, as a shell expects of a filter.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on("error", (error: NodeJS.ErrnoException) => {
      if (error.code === "EPIPE") process.exit(EXIT_BROKEN_PIPE);
      throw error;
    });
  }
  let parsed: Parsed;
  try {
    parsed = parseArgs(argv);
  } catch (error) {
    if (error instanceof UsageError) return usageError(error.message);
    throw error;
  }
  if (parsed.action === "help") {
    process.stdout.write(HELP);
    return 0;
  }
  if (parsed.action === "service") {
    if (parsed.args.some((a) => a === "-h" || a === "--help")) {
      process.stdout.write(SERVICE_HELP[parsed.command]);
      return 0;
    }
    // Loaded on demand: running a program does not pay for the HTTP stack.
    const { serveMain } = await import("../serve/main.js");
    return serveMain(parsed.command, parsed.args);
  }
  if (parsed.action === "version") {
    process.stdout.write(`${versionLine()}\n`);
    return 0;
  }
  const { options, program, args } = parsed;
  const stdinIsTTY = process.stdin.isTTY === true;
  const interactive = program.kind === "none" && stdinIsTTY;
  if (interactive && options.json) return usageError("--json needs a program (-c, -m, FILE or -), not the console");

  // A one-shot program runs on this thread (no worker to start): Ctrl-C is watched from a helper thread
  // from now on, so that it is armed by the time the run starts (see inline-host.ts).
  const inline = !interactive && options.isolation === "inline";
  const sigint = inline ? new SigintWatch() : null;
  let prepared: Prepared | null = null;
  let stdin: AsyncIterable<Uint8Array> | Uint8Array = new Uint8Array(0);
  let trace: TraceFile | null = null;
  try {
    if (!interactive) {
      prepared = await prepare(program.kind === "none" ? { kind: "piped" } : program, args, options);
      // The program's stdin is the caller's (a program read from stdin leaves none).
      if (program.kind !== "none" && program.kind !== "stdin") stdin = liveStdin();
    }
    // Opened before any guest runs and written only through its fd (see trace.ts).
    trace = options.trace !== undefined ? TraceFile.open(options.trace, options.mounts) : null;
  } catch (error) {
    if (error instanceof UsageError) return usageError(error.message);
    throw error;
  }

  // The CLI is a cold start every time: restore the snapshot from disk instead of booting CPython.
  // One sandbox: nothing to restore ahead of demand except, in the console, for a restart.
  // A snapshot cache the guest could write (inside a read-write mount) would let it
  // plant the interpreter that later runs start from: run without the cache then.
  const cacheDir = defaultSnapshotCacheDir();
  const snapshotCache = cacheDir !== null && readWriteMountHolding([cacheDir], options.mounts) === undefined;
  // A -c one-liner or the console is short and interactive: it keeps the fast start; a program (a file, -m,
  // piped source) gets its eval loop compiled up front, so that compute runs at full speed from its first line.
  const eagerEvalLoop = snapshotCache && (program.kind === "file" || program.kind === "module" || program.kind === "stdin" || (program.kind === "none" && !process.stdin.isTTY));
  const poolOptions = { size: 1, engine: options.engine, snapshotCache, eagerEvalLoop, warmInterpreters: interactive ? 1 : 0 };
  let pool: Pool;
  try {
    if (sigint !== null) {
      const stdinReader = new SyncStdin();
      pool = new Pool(poolOptions, { readStdin: (deadlineMs, interrupted) => stdinReader.read(deadlineMs, interrupted), poll: () => sigint.poll() });
    } else {
      // The console keeps its engine in a worker (an --isolation inline console runs as the default one does).
      pool = new Pool({ ...poolOptions, isolation: options.isolation === "inline" ? "process" : options.isolation });
    }
  } catch (error) {
    trace?.close();
    return createFailure(error); // an engine that is not built here
  }
  try {
    let sandbox: Sandbox;
    try {
      const shared: SandboxOptions = {
        pool,
        memoryLimit: options.memoryBytes,
        timeout: options.timeoutMs,
        outputLimit: options.outputLimitBytes,
        mounts: options.mounts,
        packages: options.packages,
        env: options.env,
        envDefaults: false, // options.env is already the whole environment (args.ts)
        deterministic: options.deterministic,
        ...(options.cpuTimeMs !== undefined ? { cpuTime: options.cpuTimeMs } : {}),
        ...(options.seed !== undefined ? { seed: options.seed } : {}),
      };
      const own = { files: prepared?.files ?? {}, trace: options.trace !== undefined };
      sandbox = options.setup === undefined ? await Sandbox.create({ ...shared, ...own })
        : await (await Template.create({ ...shared, setup: readFileSync(options.setup, "utf8"), refresh: false })).sandbox(own);
    } catch (error) {
      return createFailure(error);
    }
    // A program names its sys.path[0] in its request; the console prepares its interpreter once.
    if (prepared === null) await setupGuest(sandbox, "", true);
    if (sigint !== null) {
      try {
        await sigint.armed;
      } catch (error) {
        process.stderr.write(`pyvisor: ${error instanceof Error ? error.message : String(error)}\n`);
        return EXIT.crashed;
      }
    }
    const code = prepared === null
      // Loaded on demand: a program does not pay for readline.
      ? await (await import("./console.js")).runConsole(sandbox, options, trace)
      : await runProgram(sandbox, prepared, stdin, options, program.kind === "none" ? "stdin" : program.kind, trace, sigint !== null ? (listener) => sigint.listen(listener) : processSigint);
    await sandbox.dispose();
    return code;
  } finally {
    trace?.close();
    await pool.close();
    await flush();
  }
}
