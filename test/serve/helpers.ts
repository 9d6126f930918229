// A pyvisor service on an ephemeral loopback port, in-process, with its own
// pool; and small clients for its JSON and server-sent-event answers.
import { Pool } from "../../src/api/index.js";
import { Tokens } from "../../src/serve/auth.js";
import { buildHttp } from "../../src/serve/http.js";
import { Service, type ServiceConfig } from "../../src/serve/service.js";
import { SERVE_DEFAULTS } from "../../src/serve/main.js";

export const TOKEN = "test-token-a";
export const OTHER_TOKEN = "test-token-b";

export interface TestServer {
  url: string;
  service: Service;
  close(): Promise<void>;
}

export async function startServer(overrides: Partial<Omit<ServiceConfig, "pool">> & { bodyLimitBytes?: number } = {}): Promise<TestServer> {
  const { bodyLimitBytes, ...config } = overrides;
  const service = new Service({
    pool: new Pool({ size: 1, warmInterpreters: 1 }),
    quotas: { concurrentRuns: SERVE_DEFAULTS.concurrentRuns, sessions: SERVE_DEFAULTS.sessions, cpuSecondsPerMinute: SERVE_DEFAULTS.cpuSecondsPerMinute },
    sessionIdleMs: SERVE_DEFAULTS.sessionIdleMs,
    maxMemoryBytes: SERVE_DEFAULTS.maxMemoryBytes,
    maxTimeoutMs: SERVE_DEFAULTS.maxTimeoutMs,
    ...config,
  });
  const app = buildHttp(service, { tokens: new Tokens([TOKEN, OTHER_TOKEN]), bodyLimitBytes: bodyLimitBytes ?? SERVE_DEFAULTS.bodyLimitBytes });
  const url = await app.listen({ host: "127.0.0.1", port: 0 });
  return {
    url,
    service,
    close: async () => {
      await app.close();
      await service.close();
    },
  };
}

export interface Answer {
  status: number;
  headers: Headers;
  body: any;
}

/** A request with a JSON body (or none), answered as JSON when it is JSON. */
export async function call(server: TestServer, method: string, path: string, body?: unknown, options: { token?: string | null; headers?: Record<string, string> } = {}): Promise<Answer> {
  const token = options.token === undefined ? TOKEN : options.token;
  const headers: Record<string, string> = { ...(token !== null ? { authorization: `Bearer ${token}` } : {}), ...options.headers };
  let payload: string | Buffer | undefined;
  if (body instanceof Uint8Array) {
    payload = Buffer.from(body);
    headers["content-type"] ??= "application/octet-stream";
  } else if (body !== undefined) {
    payload = typeof body === "string" ? body : JSON.stringify(body);
    headers["content-type"] ??= "application/json";
  }
  const response = await fetch(server.url + path, { method, headers, body: payload as BodyInit | undefined });
  const type = response.headers.get("content-type") ?? "";
  const raw = Buffer.from(await response.arrayBuffer());
  const parsed = type.startsWith("application/json") ? JSON.parse(raw.toString("utf8")) : type.startsWith("text/") ? raw.toString("utf8") : raw;
  return { status: response.status, headers: response.headers, body: parsed };
}

export interface SseEvent {
  event: string;
  data: any;
}

/** Parses a whole text/event-stream answer into its events (data is JSON here). */
export function parseEvents(text: string): SseEvent[] {
  return text.split("\n\n").filter((block) => block.trim() !== "").map((block) => {
    const lines = block.split("\n");
    const event = lines.find((l) => l.startsWith("event: "))?.slice(7) ?? "message";
    const data = lines.filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
    return { event, data: JSON.parse(data) };
  });
}
