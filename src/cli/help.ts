// The texts of `pyvisor --help` and `pyvisor --version`.
import { versions } from "../api/index.js";

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
  --package PATH        a pure-Python package for the program to import: a
                        wheel (.whl, py3-none-any), a zip archive or a
                        directory, laid read-only on sys.path with its
                        metadata (repeatable). Checked before the run: native
                        code, a bad RECORD hash, an unsafe path or a missing
                        dependency is an error naming the file
  --env NAME=VALUE      set a guest environment variable (repeatable); the
                        host's environment is never passed in
  --no-default-env      start the guest's environment empty instead of from
                        HOME, PATH, LANG and TZ (--env still adds to it)

Running:
  --deterministic       fixed clock (2000-01-01) and seeded randomness, so
                        that runs repeat exactly
  --seed N              seed for --deterministic (implies it; default 0)
  --setup FILE          run FILE first, as a template setup: the program
                        starts with its imports and globals. Its state is
                        kept in the snapshot cache, keyed by FILE's contents
                        and the options, so later runs skip the setup (not
                        with --mount, --tmp or --package: those files may
                        change)
  --isolation inline|process|thread
                        run the engine in pyvisor's own process (a program
                        only; the console uses a worker process), a worker
                        process (the default) or a worker thread
  --engine default|scientific
                        the lean engine (default), or the one with numpy
                        linked in and already imported
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
  pyvisor --package wheels/attrs-23.2.0-py3-none-any.whl --package ./mylib job.py
  pyvisor --seed 7 -c 'import random, time; print(random.random(), time.time())'
  pyvisor --json -c 'print("hi"); 6 * 7'
  pyvisor --trace calls.jsonl -c 'open("/etc/passwd")'
  pyvisor                 # the console (Ctrl-C interrupts, Ctrl-D leaves)

Service (see pyvisor serve --help, pyvisor mcp --help):
  pyvisor serve [--host H] [--port P] ...   HTTP API, with MCP at /mcp
  pyvisor mcp ...                           MCP server over stdio
  pyvisor worker --queue redis://...        drain runs a serve --queue enqueues
`;

const SERVICE_OPTIONS = `Limits and quotas (per bearer token unless said):
  --max-runs N          runs in progress at once (default 4)
  --max-sessions N      sessions open at once (default 8)
  --cpu-per-minute S    guest CPU seconds in any 60 s window (default 120)
  --session-idle S      close a session idle for S seconds (default 600)
  --max-timeout S       longest timeout or cpuTime a request may ask (default 60)
  --max-memory SIZE     largest memoryLimit a request may ask (default 512M)

Pool:
  --pool-size N         engines (default: the machine's parallelism)
  --isolation process|thread
                        engines in worker processes (default) or threads
`;

export const SERVICE_HELP: Record<"serve" | "mcp" | "worker", string> = {
  serve: `usage: pyvisor serve [--host H] [--port P] [--token-file FILE] [option] ...

Serve the HTTP API (POST /v1/run, /v1/sessions, /healthz, /metrics,
/openapi.json) and MCP over streamable HTTP at /mcp. Every endpoint but
/healthz and /openapi.json needs "Authorization: Bearer TOKEN"; tokens come
from PYVISOR_TOKEN (comma-separated) and --token-file (one a line); serve
refuses to start without one. SIGTERM or SIGINT stops accepting, lets the
requests in flight finish, then closes the sessions and the pool.

  --host H              address to listen on (default 127.0.0.1)
  --port P              port (default 8000; 0 picks a free one)
  --token-file FILE     bearer tokens, one a line (# comments)
  --max-body SIZE       largest request body (default 16M; 413 past it)
  --queue redis://HOST:PORT[/DB]
                        put one-off runs on a BullMQ queue on Redis for
                        pyvisor worker hosts to drain (sessions are then
                        not offered: 501)

${SERVICE_OPTIONS}`,
  mcp: `usage: pyvisor mcp [option] ...

Serve MCP over stdio (newline-delimited JSON-RPC): tools run_python,
session_create, session_run, session_list_files, session_read_file,
session_write_file, session_close. Stops when stdin closes, or on SIGTERM.

${SERVICE_OPTIONS}`,
  worker: `usage: pyvisor worker --queue redis://HOST:PORT[/DB] [option] ...

Drain the runs that pyvisor serve --queue puts on Redis into this host's own
pool; start as many workers, on as many machines, as needed. A worker that
dies mid-run is noticed after its lock expires: the run goes to another
worker once if the request said "idempotent": true, and otherwise answers
503 WorkerLostError. SIGTERM finishes the runs in progress, then stops.

  --lock-duration S     lock on a run, renewed while it runs (default 30)
  --pool-size N         engines (default: the machine's parallelism)
  --isolation process|thread
`,
};

export function pyvisorVersion(): string {
  return versions().pyvisor;
}

export function pythonVersion(): string {
  return versions().python;
}

export function versionLine(): string {
  return `pyvisor ${pyvisorVersion()} (Python ${pythonVersion()}, wasm32-wasip1)`;
}
