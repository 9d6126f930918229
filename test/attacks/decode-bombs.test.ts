// A guest tries to make the host pay for decoding what it writes: run results
// and host-call frames that are cheap in bytes and costly as values (5 bytes
// make an empty Map), nested past any sane depth, or spread over many small
// containers; and traces whose entries carry huge paths. Each must end in a
// typed error for that run (or a bounded trace) while the host stays alive and
// its event loop responsive; no message from the engine is as big as the guest
// wants it to be.
import { after, before, test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { ErrorType, Pool, Sandbox } from "../../src/api/index.js";
import { MAX_TRACE_BYTES, MAX_TRACE_PATH_CHARS } from "../../src/kernel/trace.js";
import { MAX_OUTPUT_MESSAGE_BYTES } from "../../src/worker/guest-sandbox.js";

let pool: Pool;
before(() => { pool = new Pool({ size: 2 }); });
after(async () => { await pool.close(); });

/** Writes raw frames on the host channel, bypassing the guest module's own encoder. */
const FRAMES = `
import os, struct
from pyvisor import _channel

def key(k):
    b = k.encode()
    return struct.pack('<I', len(b)) + b

def write_frame(kind, *parts):
    fd = _channel.FD
    os.write(fd, struct.pack('<IBB', 2 + sum(len(p) for p in parts), 1, ord(kind)))
    for part in parts:
        view = memoryview(part)
        while view:
            view = view[os.write(fd, view):]

def finish_with(*value):
    """Sends a run result whose value is the given raw encoding, and ends the run there."""
    write_frame('D', b'\\x0a' + struct.pack('<I', 3) + key('value'), *value,
                key('error') + b'\\x00' + key('exitCode') + b'\\x03' + struct.pack('<q', 0))
    os._exit(0)

def call_with(name, *args):
    """A host-function call of \`name\` whose argument list is the given raw encoding; returns Python's HostError text."""
    import pyvisor
    send = pyvisor._send
    pyvisor._send = lambda kind, value: write_frame('C', b'\\x0a' + struct.pack('<I', 3) + key('name') + b'\\x06' + key(name) + key('args'), *args,
                                                    key('kwargs') + b'\\x0a' + struct.pack('<I', 0))
    try:
        pyvisor.call(name)
    except pyvisor.HostError as e:
        return str(e)
    finally:
        pyvisor._send = send
    return 'no HostError'

def flat_list(n, item):
    return b'\\x08' + struct.pack('<I', n), item * n
`;

/** 12,000,000 empty Maps in one list: 60 MB on the wire, about 2.4 GB of host heap if built. */
const SIXTY_MB_OF_MAPS = "*flat_list(12_000_000, b'\\x0b\\x00\\x00\\x00\\x00')";

/** Runs `body` while sampling the event loop every 10 ms; returns its value and the worst lateness seen. */
async function measuringLateness<T>(t: TestContext, body: () => Promise<T>): Promise<T> {
  const histogram = monitorEventLoopDelay({ resolution: 10 });
  histogram.enable();
  let value: T;
  try {
    value = await body();
  } finally {
    histogram.disable();
  }
  const maxMs = histogram.max / 1e6;
  t.diagnostic(`worst event-loop lateness during the bomb: ${maxMs.toFixed(1)} ms`);
  assert.ok(maxMs < 1000, `the host's event loop stalled for ${maxMs.toFixed(0)} ms`);
  return value;
}

test("two 60 MB results of empty Maps at once are each a ConversionError, and the host stays alive and responsive", async (t) => {
  await using a = await Sandbox.create({ pool, memoryLimit: "512M" });
  await using b = await Sandbox.create({ pool, memoryLimit: "512M" });
  const code = `${FRAMES}\nfinish_with(${SIXTY_MB_OF_MAPS})`;
  const results = await measuringLateness(t, () => Promise.all([a.run(code), b.run(code)]));
  for (const result of results) {
    assert.equal(result.error?.type, ErrorType.Conversion);
    assert.match(result.error?.message ?? "", /too costly to convert \(more than 1000000 nodes at \$\.value/);
    assert.equal(result.value, null);
  }
  assert.equal((await a.run("1 + 1")).value, 2);
});

test("a result nested 100,000 levels deep is a ConversionError naming the depth limit", async () => {
  await using sb = await Sandbox.create({ pool });
  const result = await sb.run(`${FRAMES}\nfinish_with(b'\\x08\\x01\\x00\\x00\\x00' * 100_000, b'\\x00')`);
  assert.equal(result.error?.type, ErrorType.Conversion);
  assert.match(result.error?.message ?? "", /nesting deeper than 100 at \$\.value(\[0\]){99} /);
});

test("a result of 3,000,000 nodes spread over small lists (each within any per-container check) is a ConversionError", async () => {
  await using sb = await Sandbox.create({ pool });
  const code = `${FRAMES}\nfinish_with(b'\\x08' + struct.pack('<I', 3000), (b'\\x08' + struct.pack('<I', 1000) + b'\\x00' * 1000) * 3000)`;
  const result = await sb.run(code);
  assert.equal(result.error?.type, ErrorType.Conversion);
  assert.match(result.error?.message ?? "", /more than 1000000 nodes at \$\.value\[\d+\]/);
  assert.equal(((await sb.run("[None] * 999_000")).value as unknown[]).length, 999_000, "a large result within the budget still converts");
});

test("a host-call frame bomb with no host function offered is refused at once, and the host's event loop never stalls", async (t) => {
  await using sb = await Sandbox.create({ pool, memoryLimit: "512M" });
  const result = await measuringLateness(t, () => sb.run(`${FRAMES}\ncall_with('anything', ${SIXTY_MB_OF_MAPS})`));
  assert.equal(result.error, null);
  assert.match(String(result.value), /^ConversionError: the call is too costly to convert \(more than 100000 nodes at \$\.args /);
  assert.equal(result.stats.hostCalls, 0, "the host never saw the call");
});

test("a host-call frame over the node budget is a HostError and the host function is never called", async (t) => {
  let called = false;
  await using sb = await Sandbox.create({ pool, hostGlobals: true, functions: { f: () => { called = true; } } });
  // 200 lists of 1,000 Nones: 200,201 nodes, twice the call budget, in 1 MB.
  const code = `${FRAMES}\ncall_with('f', b'\\x08' + struct.pack('<I', 200), (b'\\x08' + struct.pack('<I', 1000) + b'\\x00' * 1000) * 200)`;
  const result = await measuringLateness(t, () => sb.run(code));
  assert.match(String(result.value), /^ConversionError: the call is too costly to convert \(more than 100000 nodes at \$\.args\[\d+\]/);
  assert.equal(called, false);
  assert.equal((await sb.run("f()")).error, null);
  assert.equal(called, true);
});

test("a trace of syscalls under a deep directory chain is bounded: each path is clipped, and the whole trace stops at its byte cap", async () => {
  await using sb = await Sandbox.create({ pool, trace: true });
  // 100 levels of 255-character names: every path below is about 25 KB; 6,000 of them would be 150 MB.
  const result = await sb.run([
    "import os",
    "name = 'd' * 255",
    "fd = os.open('/tmp', os.O_RDONLY)",
    "for _ in range(100):",
    "    os.mkdir(name, dir_fd=fd)",
    "    deeper = os.open(name, os.O_RDONLY, dir_fd=fd)",
    "    os.close(fd)",
    "    fd = deeper",
    "for _ in range(6000):",
    "    os.stat('.', dir_fd=fd)",
  ].join("\n"));
  assert.equal(result.error, null);
  const trace = result.trace!;
  const longest = Math.max(...trace.map((entry) => entry.path?.length ?? 0));
  assert.ok(longest <= MAX_TRACE_PATH_CHARS + 32, `a path of ${longest} characters`);
  const deep = trace.findLast((entry) => entry.call === "path_filestat_get")?.path ?? "";
  const name = "d".repeat(255);
  assert.ok(deep.startsWith(`/tmp/${name}/`) && deep.endsWith(`/${name}`) && /…\[\d+ chars cut\]…/.test(deep), "a clipped path keeps both ends");
  assert.ok(trace.length < 6000, `the byte cap cut the trace (${trace.length} entries)`);
  const json = JSON.stringify(trace, (_, v: unknown) => (typeof v === "bigint" ? String(v) : v));
  assert.ok(json.length <= MAX_TRACE_BYTES, `${json.length} bytes of JSON`);
});

test("one 32 MiB write to stdout reaches the host in messages of at most 1 MiB, not in one guest-sized message", async () => {
  await using sb = await Sandbox.create({ pool, outputLimit: 64 * 1024 * 1024, memoryLimit: "512M" });
  const pieces: number[] = [];
  const result = await sb.run("import os\nos.write(1, b'x' * (32 * 1024 * 1024))", { onStdout: (text) => pieces.push(text.length) });
  assert.equal(result.error, null);
  assert.equal(pieces.reduce((a, b) => a + b, 0), 32 * 1024 * 1024);
  assert.ok(Math.max(...pieces) <= MAX_OUTPUT_MESSAGE_BYTES, `a message of ${Math.max(...pieces)} bytes`);
});
