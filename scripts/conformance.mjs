#!/usr/bin/env node
// Conformance: runs CPython 3.13.5's own test modules once on a native CPython
// built from the same source and once inside pyvisor, and compares the results
// test by test.
//
//   npm run conformance -- [--cap SECONDS] [test_module ...]   (default: DEFAULT_MODULES)
//
// Writes conformance/results.json (the interface other tools read), and
// conformance/results.md (a table and totals). The CPython source (Debian's
// orig tarball, checksum-pinned) and the native build live in a cache directory:
// $PYVISOR_CONFORMANCE_CACHE, else ~/.cache/pyvisor/conformance. They are
// fetched and built on first use. PYVISOR_CPYTHON_SRC points at an existing
// extracted source tree instead (its native python is taken from
// cross-build/build/python, as engine/build.sh leaves it, or build/python, or
// $PYVISOR_NATIVE_PYTHON).
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, copyFileSync, rmSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { capped, decodeEntities } from "./capped-run.mjs";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const CPYTHON_ORIG_SHA256 = "93e583f243454e6e9e4588ca2c2662206ad961659863277afcdb96801647d640";
const GUEST_TESTS = "/usr/local/lib/python3.13/test";
const GUEST_OUT = "/conformance-out";
// Slack past the guest's own --timeout before the host kills the CLI itself.
const HOST_KILL_SLACK_S = 60;

// CPython's WASI build skips the whole asyncio package ("requires socket
// support"); these submodules need neither sockets nor subprocesses.
const ASYNCIO_MODULES = [
  "tasks", "futures", "futures2", "locks", "queues", "timeouts", "taskgroups", "waitfor",
  "runners", "context", "pep492", "eager_task_factory", "staggered",
].map((name) => `test.test_asyncio.test_${name}`);

const DEFAULT_MODULES = [
  "test_grammar", "test_types", "test_descr", "test_exceptions", "test_generators", "test_coroutines",
  "test_asyncgen", "test_sys_settrace",
  "test_patma", "test_fstring", "test_scope", "test_class", "test_builtin", "test_collections",
  "test_itertools", "test_functools", "test_operator", "test_string", "test_str", "test_bytes",
  "test_unicodedata", "test_json", "test_re", "test_datetime", "test_zoneinfo", "test_time",
  "test_calendar", "test_decimal", "test_fractions", "test_math", "test_cmath", "test_statistics",
  "test_random", "test_struct", "test_array", "test_hashlib", "test_hmac", "test_base64",
  "test_binascii", "test_zlib", "test_gzip", "test_bz2", "test_lzma", "test_uuid", "test_zipfile", "test_tarfile", "test_sqlite3",
  "test_csv", "test_io", "test_os", "test_posixpath", "test_pathlib", "test_glob", "test_fnmatch",
  "test_tempfile", "test_shutil", "test_stat", "test_fileinput", ...ASYNCIO_MODULES,
  "test_contextlib", "test_contextlib_async", "test_dataclasses", "test_enum", "test_typing", "test_abc", "test_inspect",
  "test_ast", "test_tokenize", "test_dis", "test_traceback", "test_warnings", "test_logging",
  "test_argparse", "test_textwrap", "test_difflib", "test_pprint", "test_copy", "test_pickle",
  "test_weakref", "test_gc", "test_heapq", "test_bisect", "test_unittest", "test_doctest",
];

// The same driver runs both sides: regrtest in-process, with two module-level
// checks that would skip a whole module bypassed where they do not concern it:
// the module-level socket check (CPython's WASI build makes it for asyncio as a
// whole, and for asyncio's users: test_asyncgen, test_contextlib_async,
// test_sys_settrace, test_unittest's test_async_case and testmock.testasync),
// while each test that needs sockets still checks for itself; and for
// test_types and test_unittest (testmock.testpatch), which never use it, the
// `_testsinglephase` extension that test_importlib.util (imported for a helper)
// requires at import. CPython's WASI build has no such extension (configure
// marks it n/a: it must be a shared library), so there an empty stand-in is
// registered; natively the real one is imported.
const STAND_IN_TESTSINGLEPHASE = new Set(["test_types", "test_unittest"]);

function driver(module) {
  const bypass = [
    "from test import support",
    "_check = support.requires_working_socket",
    "support.requires_working_socket = lambda *, module=False: None if module else _check()",
  ];
  if (STAND_IN_TESTSINGLEPHASE.has(module)) {
    bypass.push(
      "import sys, types",
      "try:\n    import _testsinglephase\nexcept ImportError:\n    sys.modules['_testsinglephase'] = types.ModuleType('_testsinglephase')",
    );
  }
  return [...bypass, "from test.libregrtest.main import main", "main()"].join("\n");
}

function step(message) { process.stderr.write(`\n\x1b[1m[conformance] ${message}\x1b[0m\n`); }

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { stdio: "inherit", ...options });
  if (result.status !== 0) throw new Error(`${command} ${args.join(" ")} failed (${result.status ?? result.signal})`);
}

function sha256(path) {
  return new Promise((ok, fail) => {
    const hash = createHash("sha256");
    createReadStream(path).on("data", (d) => hash.update(d)).on("end", () => ok(hash.digest("hex"))).on("error", fail);
  });
}

// ------------------------------------------------------------ source and native build

/** Downloads python3.13/trixie's source package with a private apt setup (as engine/build.sh does). */
function downloadSource(cache) {
  const apt = join(cache, "apt");
  for (const dir of ["lists/partial", "archives/partial", "sources.list.d", "preferences.d"]) mkdirSync(join(apt, dir), { recursive: true });
  writeFileSync(join(apt, "sources.list"),
    "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main\n");
  const opts = [
    "-o", `Dir::Etc::sourcelist=${join(apt, "sources.list")}`, "-o", `Dir::Etc::sourceparts=${join(apt, "sources.list.d")}`,
    "-o", `Dir::Etc::preferencesparts=${join(apt, "preferences.d")}`, "-o", `Dir::State::Lists=${join(apt, "lists")}`,
    "-o", `Dir::Cache::archives=${join(apt, "archives")}`, "-o", "Debug::NoLocking=1", "-q",
  ];
  step("downloading Debian's python3.13 source (trixie) with a private apt setup");
  run("apt-get", [...opts, "update"]);
  const dl = join(cache, "dl");
  mkdirSync(dl, { recursive: true });
  run("apt-get", [...opts, "source", "--download-only", "python3.13/trixie"], { cwd: dl });
}

export async function ensureSource(cache) {
  const src = join(cache, "src", "cpython");
  if (existsSync(join(src, "configure"))) return src;
  const dl = join(cache, "dl");
  const find = () => existsSync(dl) ? readdirSync(dl).find((f) => /^python3\.13_.*\.orig\.tar\.xz$/.test(f)) : undefined;
  if (!find()) downloadSource(cache);
  const orig = find();
  if (!orig) throw new Error(`no python3.13 orig tarball in ${dl}`);
  const digest = await sha256(join(dl, orig));
  if (digest !== CPYTHON_ORIG_SHA256) throw new Error(`${orig}: sha256 ${digest}, expected ${CPYTHON_ORIG_SHA256}`);
  step(`sha256 ok; extracting ${orig}`);
  rmSync(src, { recursive: true, force: true });
  mkdirSync(src, { recursive: true });
  // The native build needs nearly the whole tree; only the docs are left out.
  run("tar", ["-xf", join(dl, orig), "-C", src, "--strip-components=1", "--exclude=*/Doc"]);
  return src;
}

function ensureNative(cache, src) {
  const build = join(cache, "build");
  const python = join(build, "python");
  if (existsSync(python)) return python;
  mkdirSync(build, { recursive: true });
  const jobs = process.env.PYVISOR_ENGINE_JOBS ?? "2";
  step(`native CPython: configure (in ${build})`);
  run(join(src, "configure"), ["--quiet"], { cwd: build });
  step(`native CPython: make -j${jobs} (about 5 minutes)`);
  run("make", [`-j${jobs}`, "-s", "all"], { cwd: build });
  return python;
}

async function prepare() {
  const given = process.env.PYVISOR_CPYTHON_SRC;
  if (given) {
    const candidates = [process.env.PYVISOR_NATIVE_PYTHON, join(given, "cross-build/build/python"), join(given, "build/python")];
    const python = candidates.find((p) => p && existsSync(p));
    if (!python) throw new Error(`no native python for ${given}: set PYVISOR_NATIVE_PYTHON`);
    return { tests: join(given, "Lib/test"), python };
  }
  const cache = process.env.PYVISOR_CONFORMANCE_CACHE ?? join(homedir(), ".cache/pyvisor/conformance");
  mkdirSync(cache, { recursive: true });
  const src = await ensureSource(cache);
  return { tests: join(src, "Lib/test"), python: ensureNative(cache, src) };
}

// ------------------------------------------------------------ running one side


/**
 * regrtest's junit file: one <testcase name=ID> per test, with a <failure>,
 * <error> or <skipped> child when it did not pass. A test whose subtests
 * failed gets an element with no name and no outcome (regrtest records
 * nothing for it); it is counted as a failure under a positional id.
 */
export function parseJunit(xml, module) {
  const tests = new Map();
  const re = /<testcase\b([^>]*?)(\/>|>([\s\S]*?)<\/testcase>)/g;
  let index = 0;
  for (const m of xml.matchAll(re)) {
    index++;
    const name = /\bname="([^"]*)"/.exec(m[1]);
    const body = m[3] ?? "";
    let outcome = "pass";
    if (/<error\b/.test(body)) outcome = "error";
    else if (/<failure\b/.test(body)) outcome = "failure";
    else if (/<skipped\b/.test(body)) outcome = "skipped";
    else if (!name) outcome = "failure";
    tests.set(name ? decodeEntities(name[1]) : `${module} #${index} (failed subtests)`, outcome);
  }
  return tests;
}

/** The skip reason of each skipped test in a junit file. */
function skipReasons(xml) {
  const reasons = new Map();
  const re = /<testcase\b[^>]*?\bname="([^"]*)"[^>]*>\s*<skipped\b[^>]*?(?:\/>|>([\s\S]*?)<\/skipped>)/g;
  for (const m of xml.matchAll(re)) {
    const reason = decodeEntities(m[2] ?? "").split("\n")[0].trim().slice(0, 100) || "(no reason)";
    reasons.set(decodeEntities(m[1]), reason);
  }
  return reasons;
}

/** Tests passing natively but skipped in pyvisor, counted by skip reason (from the kept junit files). */
function skipCauses(results, logs) {
  const causes = new Map();
  for (const { module } of results) {
    const read = (which) => { const f = join(logs, `${module}.${which}.xml`); return existsSync(f) ? readFileSync(f, "utf8") : null; };
    const native = read("native"), guest = read("pyvisor");
    if (!native || !guest) continue;
    const passing = parseJunit(native, module);
    for (const [id, reason] of skipReasons(guest)) {
      if (passing.get(id) !== "pass") continue;
      const c = causes.get(reason) ?? { count: 0, modules: new Set() };
      c.count++;
      c.modules.add(module);
      causes.set(reason, c);
    }
  }
  return [...causes].sort((a, b) => b[1].count - a[1].count);
}

function counts(tests) {
  const c = { run: tests.size, failures: 0, errors: 0, skipped: 0 };
  for (const outcome of tests.values()) {
    if (outcome === "failure") c.failures++;
    else if (outcome === "error") c.errors++;
    else if (outcome === "skipped") c.skipped++;
  }
  return c;
}

/** One side's run: its tests (or null when it wrote no results), and whether it hit the cap. */
async function side(which, module, env, capS, logs) {
  const out = mkdtempSync(join(tmpdir(), `pyvisor-conf-${which}-`));
  const log = join(logs, `${module}.${which}.log`);
  const junitArgs = [module, "--junit-xml"];
  let result;
  if (which === "native") {
    result = await capped(env.python, ["-c", driver(module), ...junitArgs, join(out, "junit.xml")], { cwd: out, capS, log });
  } else {
    result = await capped(process.execPath, [
      join(ROOT, "bin/pyvisor.js"), "--isolation", "thread", "--memory", "2G", "--timeout", String(capS),
      "--output-limit", "200M", "--mount", `${env.tests}:${GUEST_TESTS}`, "--mount", `${out}:${GUEST_OUT}:rw`,
      "-c", driver(module), ...junitArgs, `${GUEST_OUT}/junit.xml`,
    ], { cwd: out, capS: capS + HOST_KILL_SLACK_S, log });
  }
  const file = join(out, "junit.xml");
  const tests = existsSync(file) ? parseJunit(readFileSync(file, "utf8"), module) : null;
  if (tests) copyFileSync(file, join(logs, `${module}.${which}.xml`));
  rmSync(out, { recursive: true, force: true });
  // Exit 124 is pyvisor's time limit.
  return { tests, timedOut: result.timedOut || result.code === 124, code: result.code, moduleSkip: moduleSkipReason(log, module) };
}

/** regrtest's line for a module skipped as a whole (e.g. a missing test extension), or null. */
function moduleSkipReason(log, module) {
  const escaped = module.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const m = new RegExp(`^${escaped} skipped(?: -- (.*))?$`, "m").exec(readFileSync(log, "utf8"));
  return m ? (m[1] ?? "skipped") : null;
}

async function compare(module, env, capS, logs) {
  const native = await side("native", module, env, capS, logs);
  const guest = await side("pyvisor", module, env, capS, logs);
  const nativeTests = native.tests ?? new Map();
  const guestTests = guest.tests ?? new Map();
  const newFailures = [];
  for (const [id, outcome] of nativeTests) {
    const there = guestTests.get(id);
    if (outcome === "pass" && (there === "failure" || there === "error")) newFailures.push(id);
  }
  const pyvisorCounts = counts(guestTests);
  // The module itself failed in pyvisor (import error, crash) though it ran
  // natively; a module skipped as a whole is a skip, noted in results.md.
  if (!guest.tests && !guest.timedOut && !guest.moduleSkip && nativeTests.size > 0) {
    pyvisorCounts.errors += 1;
    newFailures.push(module);
  }
  const notes = [];
  if (!native.tests) notes.push(native.timedOut ? "native run hit the cap" : native.moduleSkip ? `skipped natively: ${native.moduleSkip}` : `native run wrote no results (exit ${native.code})`);
  if (guest.moduleSkip) notes.push(`skipped as a whole in pyvisor: ${guest.moduleSkip}`);
  return {
    module,
    native: counts(nativeTests),
    pyvisor: { ...pyvisorCounts, timedOut: guest.timedOut },
    newFailures,
    ...(notes.length ? { note: notes.join("; ") } : {}),
  };
}

// ------------------------------------------------------------ report

function markdown(results, meta, causes) {
  const row = (cells) => `| ${cells.join(" | ")} |`;
  const lines = [
    "# Conformance: CPython 3.13.5's own tests, native vs pyvisor",
    "",
    meta.header ?? `Run ${meta.date} on ${meta.host}; per-module cap ${meta.capS} s; ${results.length} modules.`,
    "Columns: tests run / failures / errors / skipped on each side; \"new\" counts tests that pass",
    "natively and fail or error in pyvisor (listed in results.json).",
    "",
    row(["module", "native run", "fail", "err", "skip", "pyvisor run", "fail", "err", "skip", "timed out", "new"]),
    row(Array(11).fill("---")),
  ];
  const total = { n: { run: 0, failures: 0, errors: 0, skipped: 0 }, p: { run: 0, failures: 0, errors: 0, skipped: 0 }, timedOut: 0, newFailures: 0 };
  for (const r of results) {
    for (const k of Object.keys(total.n)) { total.n[k] += r.native[k]; total.p[k] += r.pyvisor[k]; }
    total.timedOut += r.pyvisor.timedOut ? 1 : 0;
    total.newFailures += r.newFailures.length;
    const n = r.native, p = r.pyvisor;
    lines.push(row([`\`${r.module}\``, n.run, n.failures, n.errors, n.skipped, p.run, p.failures, p.errors, p.skipped, p.timedOut ? "**yes**" : "", r.newFailures.length || ""]));
  }
  const n = total.n, p = total.p;
  lines.push(row(["**total**", n.run, n.failures, n.errors, n.skipped, p.run, p.failures, p.errors, p.skipped, total.timedOut, total.newFailures]));
  const notes = results.filter((r) => r.note).map((r) => `- \`${r.module}\`: ${r.note}`);
  if (notes.length) lines.push("", "Notes:", ...notes);
  if (causes.length) {
    const total = causes.reduce((n, [, c]) => n + c.count, 0);
    lines.push("", `Tests that pass natively but are skipped in pyvisor: ${total}, by skip reason:`, "",
      row(["tests", "reason", "modules"]), row(["---", "---", "---"]),
      ...causes.map(([reason, c]) => row([c.count, reason.replaceAll("|", "\\|"), [...c.modules].map((m) => `\`${m}\``).join(", ")])));
  }
  return lines.join("\n") + "\n";
}

function parseArgs(argv) {
  let capS = 300, report = false;
  const modules = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--report") {
      report = true;
    } else if (argv[i] === "--cap") {
      capS = Number(argv[++i]);
      if (!Number.isFinite(capS) || capS <= 0) throw new Error("--cap: expected a positive number of seconds");
    } else if (argv[i].startsWith("-")) {
      throw new Error(`unknown option ${argv[i]}`);
    } else {
      modules.push(argv[i] === "test_asyncio" ? ASYNCIO_MODULES : argv[i]);
    }
  }
  return { capS, report, modules: modules.length ? modules.flat() : DEFAULT_MODULES };
}

/**
 * --report: rewrites results.md from results.json and the kept logs (no test
 * runs), keeping the old header line; module-level skips are read back from
 * the logs.
 */
function rewriteReport(outDir, logs) {
  const results = JSON.parse(readFileSync(join(outDir, "results.json"), "utf8"));
  const old = existsSync(join(outDir, "results.md")) ? readFileSync(join(outDir, "results.md"), "utf8") : "";
  for (const r of results) {
    if (r.note) continue;
    const skip = (which) => { const f = join(logs, `${r.module}.${which}.log`); return existsSync(f) ? moduleSkipReason(f, r.module) : null; };
    const notes = [skip("native") && `skipped natively: ${skip("native")}`, skip("pyvisor") && `skipped as a whole in pyvisor: ${skip("pyvisor")}`].filter(Boolean);
    if (notes.length) r.note = notes.join("; ");
  }
  writeFileSync(join(outDir, "results.json"), JSON.stringify(results, null, 2) + "\n");
  writeFileSync(join(outDir, "results.md"), markdown(results, { header: /^Run .*$/m.exec(old)?.[0] }, skipCauses(results, logs)));
}

async function main() {
  const { capS, report, modules } = parseArgs(process.argv.slice(2));
  const outDir = join(ROOT, "conformance");
  if (report) {
    rewriteReport(outDir, join(outDir, "logs"));
    console.log(join(outDir, "results.md"));
    return;
  }
  if (!existsSync(join(ROOT, "dist/src/cli/main.js"))) {
    step("compiling pyvisor (npm run build)");
    run("npx", ["tsc", "-p", "tsconfig.json"], { cwd: ROOT });
  }
  const env = await prepare();
  const logs = join(outDir, "logs");
  mkdirSync(logs, { recursive: true });
  const results = [];
  const meta = { date: new Date().toISOString(), host: `Node ${process.version}`, capS };
  const write = () => {
    writeFileSync(join(outDir, "results.json"), JSON.stringify(results, null, 2) + "\n");
    writeFileSync(join(outDir, "results.md"), markdown(results, meta, skipCauses(results, logs)));
  };
  for (const [i, module] of modules.entries()) {
    step(`(${i + 1}/${modules.length}) ${module}`);
    const r = await compare(module, env, capS, logs);
    const fmt = (c) => `${c.run} run, ${c.failures} failed, ${c.errors} errors, ${c.skipped} skipped`;
    process.stderr.write(`  native:  ${fmt(r.native)}\n  pyvisor: ${fmt(r.pyvisor)}${r.pyvisor.timedOut ? ", TIMED OUT" : ""}\n`);
    if (r.newFailures.length) process.stderr.write(`  new failures: ${r.newFailures.slice(0, 10).join(", ")}${r.newFailures.length > 10 ? ", ..." : ""}\n`);
    results.push(r);
    write(); // after each module, so an interrupted run keeps what it has
  }
  write();
  console.log(join(outDir, "results.json"));
  console.log(join(outDir, "results.md"));
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e) => { process.stderr.write(`conformance: ${e.message}\n`); process.exit(1); });
}
