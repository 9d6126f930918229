// The MCP server (the official TypeScript SDK): a run_python tool and session
// tools, over the same Service as the HTTP routes, so quotas, limits and
// session ownership are the same whichever way a client comes in.
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";
import { versions, type Sandbox } from "../api/index.js";
import { FIELD_LIMITS } from "./schemas.js";
import { toServiceError, guestPath, type JsonResult, type Service } from "./service.js";

/** Where a program saves images to show: its PNGs come back as MCP image content. */
export const OUTPUT_DIR = "output";
const MAX_IMAGES = 8;
const MAX_IMAGE_BYTES = 4 * 1024 * 1024;

type Content = CallToolResult["content"][number];

const code = z.string().max(FIELD_LIMITS.codeChars).describe("Python 3.13 source; the value of a final expression is returned");
const stdin = z.string().max(FIELD_LIMITS.stdinChars).optional().describe("standard input");
const files = z.record(z.string().max(FIELD_LIMITS.pathChars), z.string()).optional()
  .describe("files to create first: path (relative to /home/user, or absolute) -> text");
const sessionId = z.string().max(64).describe("a session id from session_create");

/** A result as text a model reads: output, then the error or the value. */
function describe(result: JsonResult): string {
  const parts: string[] = [];
  if (result.stdout) parts.push(`stdout:\n${result.stdout}`);
  if (result.stderr) parts.push(`stderr:\n${result.stderr}`);
  if (result.error) parts.push(`error: ${result.error.type}: ${result.error.message}${result.error.traceback ? `\n${result.error.traceback}` : ""}`);
  else if (result.value !== null) parts.push(`value: ${JSON.stringify(result.value)}`);
  parts.push(`exit code: ${result.exitCode}`);
  return parts.join("\n");
}

/** The PNGs the program left in its output folder (none when it made no such folder). */
async function images(sandbox: Sandbox, into: Content[]): Promise<void> {
  const dir = guestPath(OUTPUT_DIR);
  const names = await sandbox.fs.list(dir).catch(() => [] as string[]);
  for (const name of names.filter((n) => n.toLowerCase().endsWith(".png")).sort().slice(0, MAX_IMAGES)) {
    const stat = await sandbox.fs.stat(`${dir}/${name}`).catch(() => null);
    if (stat?.kind !== "file" || stat.size > MAX_IMAGE_BYTES) continue;
    const data = await sandbox.fs.readFile(`${dir}/${name}`);
    into.push({ type: "image", data: Buffer.from(data).toString("base64"), mimeType: "image/png" });
  }
}

/** Runs a tool's work; a refusal or a failed run is a tool error the model sees, not a protocol error. */
async function tool(work: () => Promise<{ content: Content[]; isError?: boolean }>): Promise<CallToolResult> {
  try {
    return await work();
  } catch (error) {
    const refused = toServiceError(error);
    const message = refused ? `${refused.type}: ${refused.message}` : error instanceof Error ? error.message : String(error);
    return { content: [{ type: "text", text: message }], isError: true };
  }
}

const text = (value: string): { content: Content[] } => ({ content: [{ type: "text", text: value }] });

/** An MCP server acting for `owner` (a token's owner id, or "stdio" for the local command). */
export function createMcpServer(service: Service, owner: string): McpServer {
  const server = new McpServer({ name: "pyvisor", version: versions().pyvisor });
  const ran = async (result: JsonResult, content: Content[]) => ({ content: [{ type: "text" as const, text: describe(result) }, ...content], isError: result.error !== null });

  server.registerTool("run_python", {
    description: `Run Python 3.13 in a fresh sandbox (no network, no host files). PNG files saved in ./${OUTPUT_DIR}/ come back as images.`,
    inputSchema: { code, stdin, files },
  }, (args) => tool(async () => {
    const job = await service.prepareRun(owner, { code: args.code, ...(args.stdin !== undefined ? { stdin: args.stdin } : {}), ...(args.files ? { files: args.files } : {}) });
    const content: Content[] = [];
    return ran(await job.start({}, (sandbox) => images(sandbox, content)), content);
  }));

  server.registerTool("session_create", {
    description: "Open a session: a sandbox whose globals and files persist across session_run calls. Returns its id.",
    inputSchema: { files },
  }, (args) => tool(async () => text(await service.openSession(owner, args.files ? { files: args.files } : {}))));

  server.registerTool("session_run", {
    description: `Run Python in a session (its globals and files persist). PNG files saved in ./${OUTPUT_DIR}/ come back as images.`,
    inputSchema: { session_id: sessionId, code, stdin },
  }, (args) => tool(async () => {
    const job = service.prepareSessionRun(owner, args.session_id, { code: args.code, ...(args.stdin !== undefined ? { stdin: args.stdin } : {}) });
    const content: Content[] = [];
    return ran(await job.start({}, (sandbox) => images(sandbox, content)), content);
  }));

  server.registerTool("session_list_files", {
    description: "List a directory of a session (default: the working directory /home/user).",
    inputSchema: { session_id: sessionId, path: z.string().max(FIELD_LIMITS.pathChars).optional() },
  }, (args) => tool(async () => text((await service.listFiles(owner, args.session_id, args.path ?? ".")).join("\n"))));

  server.registerTool("session_read_file", {
    description: "Read a text file of a session.",
    inputSchema: { session_id: sessionId, path: z.string().max(FIELD_LIMITS.pathChars) },
  }, (args) => tool(async () => text(Buffer.from(await service.readFile(owner, args.session_id, args.path)).toString("utf8"))));

  server.registerTool("session_write_file", {
    description: "Write a text file in a session (creates or replaces it).",
    inputSchema: { session_id: sessionId, path: z.string().max(FIELD_LIMITS.pathChars), content: z.string().max(FIELD_LIMITS.stdinChars) },
  }, (args) => tool(async () => {
    await service.writeFile(owner, args.session_id, args.path, new TextEncoder().encode(args.content));
    return text("written");
  }));

  server.registerTool("session_close", {
    description: "Close a session and free its sandbox.",
    inputSchema: { session_id: sessionId },
  }, (args) => tool(async () => {
    await service.closeSession(owner, args.session_id);
    return text("closed");
  }));
  return server;
}
