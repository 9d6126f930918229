// MCP over streamable HTTP at /mcp, stateless: each POST gets its own server
// and transport (the SDK's stateless mode). Sessions still persist: they live
// in the Service, named by the id session_create returned, owned by the token.
import type { FastifyInstance } from "fastify";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { createMcpServer } from "./mcp.js";
import type { Service } from "./service.js";

export function mountMcp(app: FastifyInstance, service: Service): void {
  app.post("/mcp", async (request, reply) => {
    reply.hijack();
    const server = createMcpServer(service, request.owner);
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    reply.raw.on("close", () => {
      void transport.close();
      void server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(request.raw, reply.raw, request.body);
  });
  // Stateless: no server-initiated stream to open (GET) and no MCP session to end (DELETE).
  const notAllowed = { jsonrpc: "2.0", error: { code: -32000, message: "method not allowed (stateless server: POST only)" }, id: null };
  app.get("/mcp", async (_request, reply) => reply.code(405).header("Allow", "POST").send(notAllowed));
  app.delete("/mcp", async (_request, reply) => reply.code(405).header("Allow", "POST").send(notAllowed));
}
