// The texts of `pyvisor --help` and `pyvisor --version`.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ENGINE_DIR } from "../engine/engine.js";

export const USAGE = "usage: pyvisor [option] ... [-c cmd | -m mod | file | -] [arg] ...";

export const HELP = `${USAGE}

Run Python 3.13 (CPython compiled to WebAssembly) in a sandbox: the program
sees no host file, network, process or environment variable unless granted.

Program (as with python: options end here; the args after it are sys.argv[1:]):
  -c cmd         run the program passed as a string (sys.argv[0] is '-c')
  -m mod         run a library module as a script (sys.argv[0] is its path)
  file           run a host file; the sandbox sees it as /home/user/<its name>
                 (or at its place in a --mount), never by its host path
  -              read the program from stdin (sys.argv[0] is '-')
  (nothing)      interactive console when stdin is a terminal; otherwise
                 read the program from stdin

Limits (for each run; in the console, for each input):
  --memory SIZE         guest memory, e.g. 64M or 1G (default 256M; 24M..4G)
  --timeout SECONDS     wall-clock time, fractions allowed (default 30)
  --cpu-time SECONDS    guest CPU time (default: no limit but --timeout)
  --output-limit SIZE   bytes each of stdout and stderr may take (default 10M)

Files and environment:
  --mount HOST:GUEST[:ro|:rw]
                        show host directory HOST at GUEST in the sandbox,
                        read-only unless :rw (repeatable)
  --tmp DIR             host directory DIR seen as /tmp, read-write
  --env NAME=VALUE      set a guest environment variable (repeatable); the
                        host's environment is never passed in

Running:
  --deterministic       fixed clock (2000-01-01) and seeded randomness, so
                        that runs repeat exactly
  --seed N              seed for --deterministic (implies it; default 0)
  --isolation process|thread
                        run the engine in a worker process (default) or a
                        worker thread (faster start; trusted code only)
  --trace FILE          write the run's system calls to FILE as JSON lines
                        (untrusted guest text, escaped to ASCII JSON). FILE
                        is opened before the run (an existing regular file
                        is truncated), never through a symlink, and must not
                        be inside a read-write mount; /dev/fd/N writes to an
                        fd the caller opened
  --json                print one JSON object {stdout, stderr, exitCode,
                        error, stats, value} instead of streaming the output

Other:
  -q, --quiet           no banner in the console
  -u                    stdout and stderr unbuffered (as PYTHONUNBUFFERED in
                        --env); otherwise stdout is line-buffered to a
                        terminal and block-buffered to a pipe or file
  -B, -E, -I, -s        accepted for python compatibility; no effect (the
                        sandbox is always isolated)
  -V, --version         print the pyvisor and Python versions
  -h, --help            print this help

stdin: the program reads pyvisor's stdin as it goes (input() at a terminal
reads the line typed). Ctrl-C raises KeyboardInterrupt in the program, which
may catch it; a second Ctrl-C cancels the run.

Exit status: the program's own (sys.exit); 1 uncaught exception; 2 usage
error; 124 time limit (--timeout or --cpu-time); 125 output limit; 126 the
sandbox crashed; 130 interrupted (Ctrl-C not caught). Running out of --memory is a
MemoryError in the program (1 unless it handles it). With --json, the JSON
object's exitCode is the same status.

Examples:
  pyvisor -c 'import sys; print(sys.argv)' a b
  echo '{"a": [1, 2]}' | pyvisor -m json.tool
  pyvisor --memory 64M --timeout 2.5 script.py --its-own-flag
  pyvisor --mount ./data:/data --mount ./out:/out:rw --tmp /tmp/scratch job.py
  pyvisor --seed 7 -c 'import random, time; print(random.random(), time.time())'
  pyvisor --json -c 'print("hi"); 6 * 7'
  pyvisor --trace calls.jsonl -c 'open("/etc/passwd")'
  pyvisor                 # the console (Ctrl-C interrupts, Ctrl-D leaves)
`;

const ROOT = join(ENGINE_DIR, "..", "..");

function readJson(path: string): Record<string, unknown> {
  try {
    return JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>;
  } catch {
    return {};
  }
}

export function pyvisorVersion(): string {
  const version = readJson(join(ROOT, "package.json")).version;
  return typeof version === "string" ? version : "unknown";
}

export function pythonVersion(): string {
  const cpython = readJson(join(ENGINE_DIR, "manifest.json")).cpython as { version?: unknown } | undefined;
  return typeof cpython?.version === "string" ? cpython.version : "3.13";
}

export function versionLine(): string {
  return `pyvisor ${pyvisorVersion()} (Python ${pythonVersion()}, wasm32-wasip1)`;
}
