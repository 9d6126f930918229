// The service's own refusals, as data the HTTP layer and the MCP tools both
// answer from: a status, a type the client can branch on, the field at fault.

export class ServiceError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    message: string,
    readonly field?: string,
    /** For 429: when to try again, in whole seconds (at least 1). */
    readonly retryAfterSec?: number,
  ) {
    super(message);
  }
}

export const notFound = (what: string) => new ServiceError(404, "NotFound", `no such ${what}`);

export function quotaExceeded(quota: string, message: string, retryAfterMs: number): ServiceError {
  return new ServiceError(429, "QuotaExceeded", message, quota, Math.max(1, Math.ceil(retryAfterMs / 1000)));
}
