// The pyvisor command, driven through `node bin/pyvisor.js`: every program
// form, every flag, the exit statuses and every bad-usage case.
// Most runs use --isolation inline (no worker process per test); the others, and the default (process), are tested apart.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BIN, pyvisor } from "./helpers.js";

/** The engine in the pyvisor process (inline): no worker process to start per test. The default, process, has tests of its own. */
const T: string[] = ["--isolation", "inline"];
let dir: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), "pyvisor-cli-"));
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

function assertUsage(args: string[], pattern: RegExp): void {
  const r = pyvisor(args);
  assert.equal(r.status, 2, `${args.join(" ")}: ${r.stderr}`);
  assert.equal(r.stdout, "");
  assert.match(r.stderr, /^pyvisor: /);
  assert.match(r.stderr, pattern);
  assert.match(r.stderr, /see pyvisor --help\)\n$/);
  assert.equal(r.stderr.trimEnd().split("\n").length, 1, `one line: ${r.stderr}`);
}

describe("program forms", () => {
  test("-c CMD: the rest of the arguments are sys.argv[1:], options included", () => {
    const r = pyvisor([...T, "-c", "import sys; print(sys.argv)", "a", "-b", "--memory", "x"]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, "['-c', 'a', '-b', '--memory', 'x']\n");
    assert.equal(r.stderr, "");
  });

  test("-cCMD glued and short flags clustered (-uBc CMD), as python reads them", () => {
    assert.equal(pyvisor([...T, "-cprint('glued')"]).stdout, "glued\n");
    const r = pyvisor([...T, "-uBc", "import sys; print(sys.argv[0])"]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, "-c\n");
  });

  test("sys.path[0] is '' for -c, like python; no helper name leaks into the globals", () => {
    const r = pyvisor([...T, "-c", "import sys; print(repr(sys.path[0])); print(sorted(k for k in globals() if not k.startswith('__')))"]);
    assert.equal(r.stdout, "''\n['sys']\n");
  });

  test("an uncaught exception prints python's traceback on stderr and exits 1", () => {
    const r = pyvisor([...T, "-c", "def f():\n    1/0\nf()"]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^Traceback \(most recent call last\):\n {2}File "<string>", line 3, in <module>\n/);
    assert.match(r.stderr, /ZeroDivisionError: division by zero\n$/);
  });

  test("exit status passes through: sys.exit(3) -> 3, sys.exit('msg') -> 1 with msg, os._exit(7) -> 7", () => {
    assert.equal(pyvisor([...T, "-c", "import sys; sys.exit(3)"]).status, 3);
    const msg = pyvisor([...T, "-c", "import sys; sys.exit('bye')"]);
    assert.equal(msg.status, 1);
    assert.equal(msg.stderr, "bye\n");
    assert.equal(pyvisor([...T, "-c", "import os; os._exit(7)"]).status, 7);
  });

  test("-m MODULE with stdin (json.tool)", () => {
    const r = pyvisor([...T, "-m", "json.tool"], { input: '{"a": [1, 2]}' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, '{\n    "a": [\n        1,\n        2\n    ]\n}\n');
  });

  test("-m this", () => {
    const r = pyvisor([...T, "-m", "this"]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^The Zen of Python, by Tim Peters\n/);
  });

  test("-m finds modules in the working directory and sets sys.argv[0] to the module's path", () => {
    const project = join(dir, "modproj");
    mkdirSync(project);
    writeFileSync(join(project, "mymod.py"), "import sys\nprint(sys.argv)\n");
    const r = pyvisor([...T, "--mount", `${project}:/home/user`, "-m", "mymod", "x"]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, "['/home/user/mymod.py', 'x']\n");
  });

  test("-m of a missing module: one line, exit 1, as python", () => {
    const r = pyvisor([...T, "-m", "no_such_module_here"]);
    assert.equal(r.status, 1);
    assert.equal(r.stderr, "pyvisor: No module named no_such_module_here\n");
  });

  test("FILE runs as /home/user/<name>: argv, __file__, and a traceback without the host path", () => {
    const file = join(dir, "prog.py");
    writeFileSync(file, "import sys\nprint(sys.argv, __file__, __name__)\ndef f():\n    raise ValueError('boom')\nf()\n");
    const r = pyvisor([...T, file, "a1", "--b"]);
    assert.equal(r.status, 1);
    assert.equal(r.stdout, "['/home/user/prog.py', 'a1', '--b'] /home/user/prog.py __main__\n");
    assert.equal(r.stderr, [
      "Traceback (most recent call last):",
      '  File "/home/user/prog.py", line 5, in <module>',
      "    f()",
      "    ~^^",
      '  File "/home/user/prog.py", line 4, in f',
      "    raise ValueError('boom')",
      "ValueError: boom",
      "",
    ].join("\n"));
    assert.ok(!r.stderr.includes(dir) && !r.stdout.includes(dir), "the host path never shows");
  });

  test("FILE inside a --mount runs from there: its directory is sys.path[0], so sibling imports work", () => {
    const project = join(dir, "proj");
    mkdirSync(project);
    writeFileSync(join(project, "helper.py"), "X = 'sibling'\n");
    writeFileSync(join(project, "main.py"), "import sys, helper\nprint(helper.X, sys.argv[0], sys.path[0])\n");
    const r = pyvisor([...T, "--mount", `${project}:/proj`, join(project, "main.py")]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, "sibling /proj/main.py /proj\n");
  });

  test("-- ends the options: the next argument is FILE", () => {
    const file = join(dir, "dd.py");
    writeFileSync(file, "import sys; print(sys.argv[1:])\n");
    const r = pyvisor([...T, "--", file, "-c", "x"]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, "['-c', 'x']\n");
  });

  test("- reads the program from stdin; sys.argv[0] is '-'", () => {
    const r = pyvisor([...T, "-", "x", "y"], { input: "import sys\nprint('from stdin', sys.argv)\n" });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, "from stdin ['-', 'x', 'y']\n");
  });

  test("no program and stdin not a terminal: stdin is the program (sys.argv == [''])", () => {
    const r = pyvisor([...T], { input: "import sys\nprint('piped', sys.argv)\n1/0\n" });
    assert.equal(r.status, 1);
    assert.equal(r.stdout, "piped ['']\n");
    assert.match(r.stderr, /File "<stdin>", line 3, in <module>/);
  });

  test("the caller's stdin reaches the program", () => {
    const r = pyvisor([...T, "-c", "import sys; print(sys.stdin.read().upper(), end='')"], { input: "abc\ndef\n" });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, "ABC\nDEF\n");
  });

  test("stdio is UTF-8, as in python's UTF-8 mode", () => {
    const r = pyvisor([...T, "-c", "import sys; s = sys.stdin.read(); print(s.upper(), len(s), '✓'); print('é', file=sys.stderr)"], { input: "héllo" });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, "HÉLLO 5 ✓\n");
    assert.equal(r.stderr, "é\n");
  });

  test("output streams: stdout and stderr arrive, in order within each", () => {
    const r = pyvisor([...T, "-c", "import sys\nfor i in range(3):\n    print(i); print('e', i, file=sys.stderr)"]);
    assert.equal(r.stdout, "0\n1\n2\n");
    assert.equal(r.stderr, "e 0\ne 1\ne 2\n");
  });
});

describe("limits", () => {
  test("--memory 64M: a 200M bytearray is a MemoryError traceback, exit 1", () => {
    const r = pyvisor([...T, "--memory", "64M", "-c", "bytearray(200*1024*1024)"]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /\nMemoryError\n$/);
    // The same allocation fits in a larger limit.
    const ok = pyvisor([...T, "--memory", "512M", "-c", "print(len(bytearray(200*1024*1024)))"]);
    assert.equal(ok.status, 0, ok.stderr);
    assert.equal(ok.stdout, "209715200\n");
  });

  test("--timeout 0.5: exit 124 and one line naming the limit and the flag, long before the default 30 s", () => {
    const r = pyvisor([...T, "--timeout", "0.5", "-c", "while True: pass"]);
    assert.equal(r.status, 124);
    // The bound only tells the 0.5 s limit from the 30 s default; a loaded machine may take seconds to start.
    assert.ok(r.ms < 20_000, `took ${r.ms} ms`);
    // The program's TimeoutError traceback comes first when it is printed within the hard stop's grace
    // (500 ms); on a loaded machine the hard stop may come first, and the line stands alone.
    assert.match(r.stderr, /(^|\n)pyvisor: time limit of 0\.5s exceeded \(raise it with --timeout\)\n$/);
    assert.equal(r.stderr.split("\n").filter((line) => line.startsWith("pyvisor:")).length, 1);
  });

  test("--cpu-time 0.3: a busy loop exits 124 naming --cpu-time", () => {
    const busy = pyvisor([...T, "--cpu-time", "0.3", "-c", "while True: pass"]);
    assert.equal(busy.status, 124);
    assert.match(busy.stderr, /\npyvisor: CPU time limit of 0\.3s exceeded \(raise it with --cpu-time\)\n$/);
    // Work within the budget is fine.
    const ok = pyvisor([...T, "--cpu-time", "5", "-c", "print(sum(range(10**5)))"]);
    assert.equal(ok.status, 0, ok.stderr);
    assert.equal(ok.stdout, "4999950000\n");
  });

  test("--output-limit: output is cut at the limit, exit 125", () => {
    const r = pyvisor([...T, "--output-limit", "100", "-c", "print('x' * 1000)"]);
    assert.equal(r.status, 125);
    assert.equal(r.stdout, "x".repeat(100));
    assert.equal(r.stderr, "pyvisor: output limit of 100 bytes exceeded, the rest was cut (raise it with --output-limit)\n");
  });

  test("Ctrl-C (SIGINT) interrupts the program: KeyboardInterrupt, exit 130", async () => {
    const child = spawn(process.execPath, [BIN, ...T, "-c", "print('ready', flush=True)\nwhile True: pass"], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => { stderr += chunk.toString(); });
    const status = await new Promise<number | null>((resolve) => {
      child.stdout.on("data", (chunk: Buffer) => {
        stdout += chunk.toString();
        if (stdout.includes("ready")) child.kill("SIGINT");
      });
      child.on("exit", (code) => resolve(code));
    });
    assert.equal(status, 130);
    assert.match(stderr, /KeyboardInterrupt\n$/);
  });
});

describe("files and environment", () => {
  test("--mount HOST:GUEST is read-only by default (and with :ro): reads work, writes fail", () => {
    const data = join(dir, "ro");
    mkdirSync(data);
    writeFileSync(join(data, "in.txt"), "hello");
    for (const spec of [`${data}:/data`, `${data}:/data:ro`]) {
      const r = pyvisor([...T, "--mount", spec, "-c", "print(open('/data/in.txt').read())\nopen('/data/new.txt', 'w')"]);
      assert.equal(r.status, 1);
      assert.equal(r.stdout, "hello\n");
      assert.match(r.stderr, /OSError: \[Errno \d+\] Read-only file system: '\/data\/new.txt'\n$/);
      assert.ok(!existsSync(join(data, "new.txt")));
    }
  });

  test("--mount HOST:GUEST:rw: writes land in the host directory", () => {
    const out = join(dir, "rw");
    mkdirSync(out);
    const r = pyvisor([...T, "--mount", `${out}:/out:rw`, "-c", "open('/out/result.txt', 'w').write('written in the sandbox')"]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(readFileSync(join(out, "result.txt"), "utf8"), "written in the sandbox");
  });

  test("--tmp DIR: the host directory is /tmp, read-write", () => {
    const tmp = join(dir, "tmp");
    mkdirSync(tmp);
    const r = pyvisor([...T, "--tmp", tmp, "-c", "import tempfile, os\nopen('/tmp/a.txt', 'w').write('t')\nprint(tempfile.gettempdir(), os.listdir('/tmp'))"]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, "/tmp ['a.txt']\n");
    assert.equal(readFileSync(join(tmp, "a.txt"), "utf8"), "t");
  });

  test("--env NAME=VALUE sets guest variables; the host's environment never enters", () => {
    const r = pyvisor([...T, "--env", "GREETING=a=b", "--env", "N=1", "-c", "import os; print(os.environ['GREETING'], os.environ['N'], 'HOST_SECRET' in os.environ)"],
      { env: { ...process.env, HOST_SECRET: "s3cret" } });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, "a=b 1 False\n");
  });

  test("--trace FILE writes the run's system calls as JSON lines", () => {
    const trace = join(dir, "trace.jsonl");
    const r = pyvisor([...T, "--trace", trace, "-c", "open('/etc/passwd')"]);
    assert.equal(r.status, 1);
    const entries = readFileSync(trace, "utf8").trimEnd().split("\n").map((line) => JSON.parse(line) as { call: string; path?: string; result: string; args: unknown[] });
    assert.ok(entries.length > 0);
    for (const entry of entries) assert.equal(typeof entry.call, "string");
    const open = entries.find((e) => e.call === "path_open" && e.result === "ENOENT");
    assert.ok(open, "the failed open of /etc/passwd is traced");
  });
});

describe("running", () => {
  test("--deterministic: two runs print the same time.time() and random.random(); --seed changes the randomness", () => {
    const code = "import time, random; print(time.time(), random.random())";
    const a = pyvisor([...T, "--deterministic", "-c", code]);
    const b = pyvisor([...T, "--deterministic", "-c", code]);
    assert.equal(a.status, 0, a.stderr);
    assert.equal(a.stdout, b.stdout);
    assert.match(a.stdout, /^946684800\.\d+ 0\.\d+\n$/); // the clock starts at 2000-01-01
    const seeded = pyvisor([...T, "--seed", "7", "-c", code]);
    assert.equal(seeded.stdout.split(" ")[0], a.stdout.split(" ")[0]);
    assert.notEqual(seeded.stdout, a.stdout);
    assert.equal(pyvisor([...T, "--seed", "7", "-c", code]).stdout, seeded.stdout);
  });

  test("--json: one JSON object with stdout, stderr, exitCode, error, stats and value", () => {
    const r = pyvisor([...T, "--json", "-c", "print('hi'); 6 * 7"]);
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.deepEqual(Object.keys(out).sort(), ["error", "exitCode", "stats", "stderr", "stdout", "value"]);
    assert.equal(out.stdout, "hi\n");
    assert.equal(out.exitCode, 0);
    assert.equal(out.value, 42);
    assert.equal(out.error, null);
    assert.equal(typeof (out.stats as { wallMs: unknown }).wallMs, "number");
  });

  test("--json reports errors and limits with the same exit status", () => {
    const failed = pyvisor([...T, "--json", "-c", "import sys; print('x', file=sys.stderr); 1/0"]);
    assert.equal(failed.status, 1);
    const out = JSON.parse(failed.stdout) as { exitCode: number; stderr: string; error: { type: string } };
    assert.equal(out.exitCode, 1);
    assert.equal(out.error.type, "ZeroDivisionError");
    assert.match(out.stderr, /^x\nTraceback/);
    assert.equal(failed.stderr, "");
    const slow = pyvisor([...T, "--json", "--timeout", "0.3", "-c", "while True: pass"]);
    assert.equal(slow.status, 124);
    assert.equal((JSON.parse(slow.stdout) as { error: { type: string } }).error.type, "TimeoutError");
  });

  test("--isolation inline, process and thread all run the program", () => {
    for (const isolation of ["inline", "process", "thread"]) {
      const r = pyvisor(["--isolation", isolation, "-c", "print('ok')"]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, "ok\n");
    }
  });

  test("bin/pyvisor.js without a build says to run npm run build", () => {
    const copy = join(dir, "unbuilt", "bin");
    mkdirSync(copy, { recursive: true });
    writeFileSync(join(copy, "pyvisor.js"), readFileSync(BIN));
    const r = spawnSync(process.execPath, [join(copy, "pyvisor.js"), "-c", "1"], { encoding: "utf8" });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^pyvisor: not built yet .*run `npm run build`/);
  });

  test("--version prints the pyvisor and Python versions", () => {
    for (const flag of ["--version", "-V"]) {
      const r = pyvisor([flag]);
      assert.equal(r.status, 0);
      assert.match(r.stdout, /^pyvisor \d+\.\d+\.\d+ \(Python 3\.13\.\d+, wasm32-wasip1\)\n$/);
    }
  });

  test("--help and -h print the usage, every option and examples", () => {
    for (const flag of ["--help", "-h"]) {
      const r = pyvisor([flag]);
      assert.equal(r.status, 0);
      assert.match(r.stdout, /^usage: pyvisor \[option\] \.\.\. \[-c cmd \| -m mod \| file \| -\] \[arg\] \.\.\.\n/);
      for (const option of ["--memory", "--timeout", "--cpu-time", "--output-limit", "--mount", "--tmp", "--package", "--env", "--trace", "--deterministic", "--seed", "--json", "--isolation", "--version", "--help", "Examples:", "Exit status"]) {
        assert.ok(r.stdout.includes(option), `help mentions ${option}`);
      }
    }
  });
});

describe("bad usage: one line on stderr, exit 2", () => {
  const cases: Array<[string, string[], RegExp]> = [
    ["unknown long option", ["--frobnicate", "-c", "1"], /unknown option --frobnicate/],
    ["unknown short option", ["-z", "-c", "1"], /unknown option -z/],
    ["missing FILE", ["no/such/file.py"], /can't open file 'no\/such\/file.py': \[Errno 2\] No such file or directory/],
    ["FILE is a directory", ["."], /it is a directory/],
    ["bad size", ["--memory", "12Q", "-c", "1"], /--memory: not a size: "12Q"/],
    ["size below the minimum", ["--memory", "1M", "-c", "1"], /--memory: must be between 24M and 4G/],
    ["--mount of a missing host directory", ["--mount", "/no/such/dir:/data", "-c", "1"], /--mount: host directory does not exist: \/no\/such\/dir/],
    ["--mount without GUEST", ["--mount", "/tmp", "-c", "1"], /--mount: expected HOST:GUEST\[:ro\|:rw\]/],
    ["--mount with a relative GUEST", ["--mount", "/tmp:data", "-c", "1"], /--mount: the sandbox path must be absolute/],
    ["--tmp of a missing directory", ["--tmp", "/no/such/dir", "-c", "1"], /--tmp: host directory does not exist/],
    ["--env without '='", ["--env", "FOO", "-c", "1"], /--env: expected NAME=VALUE, got "FOO"/],
    ["--timeout not a number", ["--timeout", "soon", "-c", "1"], /--timeout: expected a positive number of seconds/],
    ["--timeout 0", ["--timeout", "0", "-c", "1"], /--timeout: expected a positive number of seconds/],
    ["--cpu-time negative", ["--cpu-time=-1", "-c", "1"], /--cpu-time: expected a positive number of seconds/],
    ["option missing its value", ["--memory"], /option --memory needs an argument/],
    ["-c missing its value", ["-c"], /option -c needs an argument/],
    ["-m missing its value", ["-m"], /option -m needs an argument/],
    ["--isolation bad", ["--isolation", "vm", "-c", "1"], /--isolation: expected "inline", "process" or "thread"/],
    ["--seed bad", ["--seed", "-3", "-c", "1"], /--seed: expected a non-negative integer/],
    ["flag given a value", ["--json=yes", "-c", "1"], /option --json takes no argument/],
    ["--trace to an unwritable place", ["--trace", "/no/such/dir/t.jsonl", "-c", "1"], /--trace: cannot write/],
    ["Sandbox.create refusing an option (mount at /)", ["--isolation", "thread", "--mount", "/tmp:/", "-c", "1"], /mounts\[0\]\.guest must be a directory below \//],
  ];
  for (const [name, args, pattern] of cases) {
    test(name, () => assertUsage(args, pattern));
  }

  test("FILE placed where a --mount would receive it", () => {
    const file = join(dir, "covered.py");
    writeFileSync(file, "print(1)\n");
    const home = join(dir, "home");
    mkdirSync(home, { recursive: true });
    assertUsage(["--mount", `${home}:/home/user:rw`, file], /cannot place covered.py at \/home\/user\/covered.py: --mount \/home\/user covers it/);
    assert.ok(!existsSync(join(home, "covered.py")), "nothing was written into the host directory");
  });
});
