// The MCP server, end to end with the SDK's own client: over streamable HTTP
// (mounted in serve at /mcp, behind the bearer token) and over stdio
// (`pyvisor mcp`, the real command).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { BIN, ROOT } from "../cli/helpers.js";
import { OTHER_TOKEN, startServer, TOKEN, type TestServer } from "./helpers.js";

let server: TestServer;
before(async () => { server = await startServer(); });
after(async () => { await server.close(); });

async function connect(token: string): Promise<Client> {
  const client = new Client({ name: "pyvisor-test", version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${server.url}/mcp`), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
  return client;
}

type Content = Array<{ type: string; text?: string; data?: string; mimeType?: string }>;
const texts = (result: object) => ((result as { content: Content }).content).filter((c) => c.type === "text").map((c) => c.text).join("\n");

test("over HTTP the server lists run_python and the session tools", async () => {
  const client = await connect(TOKEN);
  try {
    const names = (await client.listTools()).tools.map((t) => t.name).sort();
    assert.deepEqual(names, ["run_python", "session_close", "session_create", "session_list_files", "session_read_file", "session_run", "session_write_file"]);
  } finally {
    await client.close();
  }
});

test("run_python over HTTP answers the output and value as text", async () => {
  const client = await connect(TOKEN);
  try {
    const result = await client.callTool({ name: "run_python", arguments: { code: "import sys\nprint(sys.stdin.read(), open('d.txt').read())\n6 * 7", stdin: "in", files: { "d.txt": "file" } } });
    assert.equal(result.isError, false);
    assert.match(texts(result), /stdout:\nin file\n/);
    assert.match(texts(result), /value: 42/);
  } finally {
    await client.close();
  }
});

test("a failing program is a tool error carrying the Python exception", async () => {
  const client = await connect(TOKEN);
  try {
    const result = await client.callTool({ name: "run_python", arguments: { code: "1/0" } });
    assert.equal(result.isError, true);
    assert.match(texts(result), /ZeroDivisionError/);
  } finally {
    await client.close();
  }
});

test("a PNG the program saves in ./output comes back as image content", async () => {
  const client = await connect(TOKEN);
  try {
    const png = Buffer.from("89504e470d0a1a0a0000000d49484452", "hex");
    const code = `import os\nos.makedirs('output', exist_ok=True)\nopen('output/plot.png', 'wb').write(bytes.fromhex('${png.toString("hex")}'))`;
    const result = await client.callTool({ name: "run_python", arguments: { code } });
    const images = (result.content as Content).filter((c) => c.type === "image");
    assert.equal(images.length, 1);
    assert.equal(images[0]!.mimeType, "image/png");
    assert.deepEqual(Buffer.from(images[0]!.data!, "base64"), png);
  } finally {
    await client.close();
  }
});

test("session tools: create, write a file, run twice with state kept, list, read, close; a closed session is an error", async () => {
  const client = await connect(TOKEN);
  try {
    const id = texts(await client.callTool({ name: "session_create", arguments: {} }));
    assert.match(id, /^[0-9a-f-]{36}$/);
    await client.callTool({ name: "session_write_file", arguments: { session_id: id, path: "in.txt", content: "abc" } });
    await client.callTool({ name: "session_run", arguments: { session_id: id, code: "data = open('in.txt').read()" } });
    const run = await client.callTool({ name: "session_run", arguments: { session_id: id, code: "open('out.txt', 'w').write(data.upper())\ndata" } });
    assert.match(texts(run), /value: "abc"/);
    assert.match(texts(await client.callTool({ name: "session_list_files", arguments: { session_id: id } })), /out\.txt/);
    assert.equal(texts(await client.callTool({ name: "session_read_file", arguments: { session_id: id, path: "out.txt" } })), "ABC");
    assert.equal(texts(await client.callTool({ name: "session_close", arguments: { session_id: id } })), "closed");
    const gone = await client.callTool({ name: "session_run", arguments: { session_id: id, code: "1" } });
    assert.equal(gone.isError, true);
    assert.match(texts(gone), /NotFound: no such session/);
  } finally {
    await client.close();
  }
});

test("another token's MCP client cannot use a session: it is not found", async () => {
  const owner = await connect(TOKEN);
  const other = await connect(OTHER_TOKEN);
  try {
    const id = texts(await owner.callTool({ name: "session_create", arguments: {} }));
    const result = await other.callTool({ name: "session_run", arguments: { session_id: id, code: "1" } });
    assert.equal(result.isError, true);
    assert.match(texts(result), /no such session/);
    await owner.callTool({ name: "session_close", arguments: { session_id: id } });
  } finally {
    await owner.close();
    await other.close();
  }
});

test("/mcp without a valid token answers 401 and the client cannot connect", async () => {
  await assert.rejects(connect("wrong"));
  const response = await fetch(`${server.url}/mcp`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
  assert.equal(response.status, 401);
});

test("pyvisor mcp over stdio: the SDK client runs Python through the real command", async () => {
  const client = new Client({ name: "pyvisor-test", version: "1.0.0" });
  const transport = new StdioClientTransport({ command: process.execPath, args: [BIN, "mcp", "--pool-size", "1"], cwd: ROOT, stderr: "pipe" });
  await client.connect(transport);
  try {
    const result = await client.callTool({ name: "run_python", arguments: { code: "print('over stdio')\n2 + 2" } });
    assert.equal(result.isError, false);
    assert.match(texts(result), /stdout:\nover stdio\n/);
    assert.match(texts(result), /value: 4/);
  } finally {
    await client.close();
  }
});
