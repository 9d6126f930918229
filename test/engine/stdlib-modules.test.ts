// The stdlib modules the engine build links in or packs into the image
// (engine/build.sh): _bz2, _lzma and _uuid from Debian's bzip2, xz-utils and
// util-linux, Debian's time zone data for zoneinfo, multiprocessing, which
// imports but cannot start a process, and SQLite's "unix" VFS with POSIX
// locks (engine/src/sqlite_wasi_locks.c). Each runs through the real engine.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { Pool, Sandbox, type RunResult } from "../../src/api/index.js";

let pool: Pool;
before(() => { pool = new Pool({ size: 1, isolation: "thread" }); });
after(async () => { await pool.close(); });

async function value(code: string, options: { env?: Record<string, string> } = {}): Promise<unknown> {
  await using sb = await Sandbox.create({ pool, ...options });
  const result: RunResult = await sb.run(code);
  assert.equal(result.error, null, `${JSON.stringify(result.error)}\n${result.stderr}`);
  return result.value;
}

test("bz2 round-trips data through the linked-in libbz2 (_bz2 was not built)", async () => {
  const got = await value([
    "import bz2",
    "data = bytes(range(256)) * 400",
    "packed = bz2.compress(data, 9)",
    "[packed[:3], len(packed) < len(data), bz2.decompress(packed) == data,",
    " bz2.BZ2Decompressor().decompress(packed) == data]",
  ].join("\n"));
  assert.deepEqual(got, [new Uint8Array(Buffer.from("BZh")), true, true, true]);
});

test("lzma round-trips .xz and raw LZMA2 data through the linked-in liblzma (_lzma was not built)", async () => {
  const got = await value([
    "import lzma",
    "data = b'pyvisor ' * 5000",
    "xz = lzma.compress(data)",
    "filters = [{'id': lzma.FILTER_LZMA2, 'preset': 6}]",
    "raw = lzma.compress(data, format=lzma.FORMAT_RAW, filters=filters)",
    "[xz[:6], lzma.decompress(xz) == data,",
    " lzma.decompress(raw, format=lzma.FORMAT_RAW, filters=filters) == data,",
    " lzma.is_check_supported(lzma.CHECK_SHA256)]",
  ].join("\n"));
  assert.deepEqual(got, [new Uint8Array(Buffer.from("\xfd7zXZ\x00", "latin1")), true, true, true]);
});

test("tarfile writes and reads back bz2 and xz compressed archives", async () => {
  const got = await value([
    "import io, tarfile",
    "def roundtrip(mode):",
    "    buf = io.BytesIO()",
    "    with tarfile.open(fileobj=buf, mode='w:' + mode) as tar:",
    "        info = tarfile.TarInfo('dir/hello.txt'); payload = b'hello ' * 1000; info.size = len(payload)",
    "        tar.addfile(info, io.BytesIO(payload))",
    "    buf.seek(0)",
    "    with tarfile.open(fileobj=buf, mode='r:*') as tar:",
    "        return [tar.getnames(), tar.extractfile('dir/hello.txt').read() == payload]",
    "[roundtrip('bz2'), roundtrip('xz')]",
  ].join("\n"));
  assert.deepEqual(got, [[["dir/hello.txt"], true], [["dir/hello.txt"], true]]);
});

test("zipfile writes and reads back ZIP_BZIP2 and ZIP_LZMA members", async () => {
  const got = await value([
    "import zipfile",
    "path = '/tmp/t.zip'",
    "with zipfile.ZipFile(path, 'w') as z:",
    "    z.writestr('a.txt', 'alpha ' * 500, compress_type=zipfile.ZIP_BZIP2)",
    "    z.writestr('b.txt', 'beta ' * 500, compress_type=zipfile.ZIP_LZMA)",
    "with zipfile.ZipFile(path) as z:",
    "    out = [[i.filename, i.compress_type] for i in z.infolist()]",
    "    out.append(z.read('a.txt') == b'alpha ' * 500 and z.read('b.txt') == b'beta ' * 500)",
    "    out.append(z.testzip())",
    "out",
  ].join("\n"));
  assert.deepEqual(got, [["a.txt", 12], ["b.txt", 14], true, null]);
});

test("uuid1 comes from libuuid's uuid_generate_time_safe (the C _uuid module was not built)", async () => {
  const got = await value([
    "import _uuid, uuid",
    "a, b = uuid.uuid1(), uuid.uuid1()",
    "raw, safe = _uuid.generate_time_safe()",
    "[_uuid.has_uuid_generate_time_safe, a.version, a.variant == uuid.RFC_4122, a != b,",
    " len(raw), uuid.UUID(bytes=raw).version, uuid.uuid4().version]",
  ].join("\n"));
  assert.deepEqual(got, [1, 1, true, true, 16, 1, 4]);
});

test("zoneinfo finds Europe/Paris in the shipped tz data, with the right offset in winter and summer", async () => {
  const got = await value([
    "from datetime import datetime",
    "from zoneinfo import ZoneInfo, available_timezones",
    "paris = ZoneInfo('Europe/Paris')",
    "winter, summer = datetime(2024, 1, 15, 12, tzinfo=paris), datetime(2024, 7, 15, 12, tzinfo=paris)",
    "ny = datetime(2024, 3, 10, 12, tzinfo=ZoneInfo('America/New_York'))",
    "[winter.utcoffset().total_seconds(), winter.tzname(), summer.utcoffset().total_seconds(), summer.tzname(),",
    " ny.tzname(), 'Asia/Tokyo' in available_timezones(), len(available_timezones()) > 300]",
  ].join("\n"));
  assert.deepEqual(got, [3600, "CET", 7200, "CEST", "EDT", true, true]);
});

test("an unknown zone is ZoneInfoNotFoundError, and a key cannot reach outside the tz data", async () => {
  const got = await value([
    "from zoneinfo import ZoneInfo, ZoneInfoNotFoundError",
    "def load(key):",
    "    try:",
    "        ZoneInfo(key); return 'loaded'",
    "    except ZoneInfoNotFoundError: return 'not found'",
    "    except ValueError: return 'invalid'",
    "[load('Mars/Olympus_Mons'), load('../../../etc/passwd'), load('/etc/hostname')]",
  ].join("\n"));
  assert.deepEqual(got, ["not found", "invalid", "invalid"]);
});

test("the sandbox's local time stays UTC with tz data present, even when TZ names another zone", async () => {
  const code = "import time\n[time.localtime(1720000000).tm_gmtoff, time.localtime(1720000000).tm_hour, time.timezone]";
  assert.deepEqual(await value(code), [0, 9, 0]);
  assert.deepEqual(await value(code, { env: { TZ: "Europe/Paris" } }), [0, 9, 0]);
});

test("multiprocessing imports, and starting a process, a pool or a manager is a clear OSError (not an AttributeError deep inside)", async () => {
  const got = await value([
    "import errno, multiprocessing, logging.handlers",
    "def work(): pass",
    "out = [multiprocessing.cpu_count() >= 1]",
    "for start in (lambda: multiprocessing.Process(target=work).start(), lambda: multiprocessing.Pool(2),",
    "              lambda: multiprocessing.Manager(), lambda: multiprocessing.get_context('spawn').Process(target=work).start()):",
    "    try:",
    "        start(); out.append('started')",
    "    except OSError as e:",
    "        out.append([e.errno == errno.ENOSYS, e.strerror])",
    "out",
  ].join("\n"));
  const message = "multiprocessing cannot start a process: this Python runs as one WASI process, with no fork or spawn";
  assert.deepEqual(got, [true, ...Array(4).fill([true, message])]);
});

// Two connections to one database, as CPython's test_sqlite3 transaction tests
// use them: with dot-file locking any lock excluded the other connection.
const TWO_CONNECTIONS = [
  "import sqlite3",
  "a = sqlite3.connect(PATH, timeout=0); b = sqlite3.connect(PATH, timeout=0)",
  "a.execute('create table t(x)'); a.commit()",
  "def attempt(f):",
  "    try:",
  "        f(); return 'ok'",
  "    except sqlite3.OperationalError as e: return str(e)",
];

test("a second SQLite connection reads while the first holds a write transaction, as on Linux (dot-file locking said 'database is locked')", async () => {
  const got = await value([
    "PATH = '/tmp/shared.db'", ...TWO_CONNECTIONS,
    "a.execute('insert into t values (1)')",
    "out = [b.execute('select count(*) from t').fetchone()[0], attempt(lambda: b.execute('insert into t values (2)'))]",
    "a.commit()",
    "out += [attempt(lambda: b.execute('insert into t values (2)')), attempt(b.commit), a.execute('select count(*) from t').fetchone()[0]]",
    "out",
  ].join("\n"));
  assert.deepEqual(got, [0, "database is locked", "ok", "ok", 2]);
});

test("an SQLite writer cannot commit under another connection's read transaction, and can once it ends (locks still exclude)", async () => {
  const got = await value([
    "PATH = '/tmp/shared.db'", ...TWO_CONNECTIONS,
    "b.execute('begin'); b.execute('select count(*) from t').fetchone()",
    "a.execute('insert into t values (1)')",
    "out = [attempt(a.commit)]",
    "b.commit()",
    "out += [attempt(a.commit), b.execute('select count(*) from t').fetchone()[0]]",
    "out",
  ].join("\n"));
  assert.deepEqual(got, ["database is locked", "ok", 1]);
});
