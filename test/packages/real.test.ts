// Real pure-Python libraries (the ones Debian installs, packed into wheels
// here) imported and working inside a sandbox, with importlib.metadata's
// answers; through the API and the CLI. CI installs the Debian packages
// (.ci/run); without them these tests fail naming the package to install.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PackageError, Pool, Sandbox, runPython } from "../../src/api/index.js";
import { buildZip, debianWheel, DEBIAN_LIBRARIES } from "../helpers/wheel.js";
import { pyvisor } from "../cli/helpers.js";

let dir: string;
let pool: Pool;
const wheels = {} as Record<keyof typeof DEBIAN_LIBRARIES, string>;
before(() => {
  dir = mkdtempSync(join(tmpdir(), "pyvisor-real-wheels-"));
  for (const [key, library] of Object.entries(DEBIAN_LIBRARIES)) wheels[key as keyof typeof DEBIAN_LIBRARIES] = debianWheel(dir, library);
  pool = new Pool({ size: 1 });
});
after(async () => {
  await pool.close();
  rmSync(dir, { recursive: true, force: true });
});

test("attrs, python-dateutil (with six) and Jinja2 (with MarkupSafe) import from wheels and work, and importlib.metadata reports their versions", async () => {
  await using sb = await Sandbox.create({ pool, packages: [wheels.attrs, wheels.dateutil, wheels.six, wheels.jinja2, wheels.markupsafe] });
  const result = await sb.run(`
import attr, dateutil.parser, jinja2
from dateutil.relativedelta import relativedelta
from importlib.metadata import version, requires

@attr.s(auto_attribs=True, frozen=True)
class Point:
    x: int
    y: int = 0

when = dateutil.parser.parse("2024-01-31T10:00:00+02:00") + relativedelta(months=1)
page = jinja2.Environment(autoescape=True).from_string("<p>{{ name }}</p>").render(name="<b>you</b>")
({name: version(name) for name in ["attrs", "python-dateutil", "six", "jinja2", "MarkupSafe"]},
 repr(Point(1)), when.isoformat(), page, requires("python-dateutil"))
`);
  assert.equal(result.error, null, result.error?.traceback);
  assert.deepEqual(result.value, [
    { attrs: "22.2.0", "python-dateutil": "2.8.2", six: "1.16.0", jinja2: "3.1.2", MarkupSafe: "2.1.2" },
    "Point(x=1, y=0)",
    "2024-02-29T10:00:00+02:00",
    "<p>&lt;b&gt;you&lt;/b&gt;</p>",
    ["six>=1.5"],
  ]);
});

test("idna and packaging work from wheels through runPython; packaging sees pyvisor's platform (wasi)", async () => {
  const result = await runPython(`
import idna, packaging.version, packaging.markers, importlib.metadata as m
(idna.encode("bücher.example").decode(), packaging.version.Version("3.13.5") > packaging.version.Version("3.9"),
 packaging.markers.Marker('sys_platform == "wasi"').evaluate(), m.version("idna"), m.version("packaging"))
`, { pool, packages: [wheels.idna, wheels.packaging] });
  assert.equal(result.error, null, result.error?.traceback);
  assert.deepEqual(result.value, ["xn--bcher-kva.example", true, true, "3.3", "23.0"]);
});

test("MarkupSafe runs as its pure-Python fallback: no native _speedups, escape still works", async () => {
  const result = await runPython(`
import markupsafe, importlib.util
(importlib.util.find_spec("markupsafe._speedups") is None, str(markupsafe.escape("<a href='x'>")), markupsafe.escape.__module__)
`, { pool, packages: [wheels.markupsafe] });
  assert.equal(result.error, null, result.error?.traceback);
  assert.deepEqual(result.value, [true, "&lt;a href=&#39;x&#39;&gt;", "markupsafe._native"]);
});

test("a package's files are read-only in the sandbox: a program cannot patch a library other runs import", async () => {
  await using sb = await Sandbox.create({ pool, packages: [wheels.six] });
  const result = await sb.run(`
import errno, six
try:
    open(six.__file__, "a").write("EVIL = 1")
    outcome = "written"
except OSError as e:
    outcome = errno.errorcode[e.errno]
(six.__file__, outcome)
`);
  assert.equal(result.error, null, result.error?.traceback);
  assert.deepEqual(result.value, ["/usr/local/lib/python3.13/site-packages/six.py", "EROFS"]);
});

test("a zip archive and a directory are packages too: their contents are the site directory's", async () => {
  const zip = join(dir, "tools.zip");
  writeFileSync(zip, buildZip([{ name: "ziptool/__init__.py", data: "NAME = 'from zip'\n" }]));
  const tree = join(dir, "tree");
  mkdirSync(join(tree, "dirtool"), { recursive: true });
  writeFileSync(join(tree, "dirtool", "__init__.py"), "NAME = 'from dir'\n");
  const result = await runPython("import ziptool, dirtool\n(ziptool.NAME, dirtool.NAME)", { pool, packages: [zip, tree] });
  assert.equal(result.error, null, result.error?.traceback);
  assert.deepEqual(result.value, ["from zip", "from dir"]);
});

test("python-dateutil without six is refused before it starts: the missing Requires-Dist is named", async () => {
  const error = await Sandbox.create({ pool, packages: [wheels.dateutil] }).then(() => null, (e: unknown) => e);
  assert.ok(error instanceof PackageError);
  assert.equal(error.path, wheels.dateutil);
  assert.match(error.reason, /missing dependency six: python_dateutil 2\.8\.2 requires "six>=1\.5"/);
});

test("a sandbox without packages has no site-packages directory and nothing extra on sys.path", async () => {
  const result = await runPython("import os, sys\n(os.path.exists('/usr/local/lib/python3.13/site-packages'), any('site-packages' in p for p in sys.path))", { pool });
  assert.deepEqual(result.value, [false, false]);
});

test("the CLI takes --package (repeatable): the program imports the libraries and reads their metadata", () => {
  const script = join(dir, "script.py");
  writeFileSync(script, "import six, attr\nfrom importlib.metadata import version\nprint(version('six'), version('attrs'), six.PY3, attr.__name__)\n");
  const r = pyvisor(["--package", wheels.six, "--package", wheels.attrs, script]);
  assert.equal(r.stderr, "");
  assert.equal(r.stdout, "1.16.0 22.2.0 True attr\n");
  assert.equal(r.status, 0);
});

test("the CLI refuses a bad --package with a usage error naming the file and the cause", () => {
  const bad = join(dir, "bad-1.0-cp313-cp313-manylinux_2_17_x86_64.whl");
  writeFileSync(bad, buildZip([{ name: "bad/__init__.py", data: "" }]));
  const r = pyvisor(["--package", bad, "-c", "print('ran')"]);
  assert.equal(r.status, 2);
  assert.equal(r.stdout, "");
  assert.ok(r.stderr.includes(`package ${bad}: unsupported tag cp313-cp313-manylinux_2_17_x86_64`), r.stderr);
});

test("a template whose setup imported real libraries from wheels serves them to its sandboxes without importing again", async () => {
  const { Template } = await import("../../src/api/index.js");
  await using t = await Template.create({ pool, packages: [wheels.attrs, wheels.jinja2, wheels.markupsafe], setup: "import sys, attr, jinja2\nenv = jinja2.Environment(autoescape=True)" });
  await using sb = await t.sandbox();
  const result = await sb.run("from importlib.metadata import version\n(env.from_string('{{ x }}').render(x='<i>'), version('attrs'), 'jinja2' in sys.modules)");
  assert.equal(result.error, null, result.error?.traceback);
  assert.deepEqual(result.value, ["&lt;i&gt;", "22.2.0", true]);
});
