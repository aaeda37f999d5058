// The sync endpoints over fetch: the session cookie plus the CSRF header, JSON in and out,
// and errors the sync can reason about (HttpError with the contract's error code,
// NetworkError when the server could not be reached). No retries here: sync.js decides.
import { parseRetryAfter } from "./syncLogic.js";

export const PATHS = Object.freeze({
  push: "/api/v1/sync/push",
  pull: "/api/v1/sync/pull",
  rejections: "/api/v1/sync/rejections",
  session: "/app/session",
});

/** The server answered with an error status. `code` is the contract's error.code. */
export class HttpError extends Error {
  /**
   * @param {number} status
   * @param {any} body
   * @param {number|null} retryAfterMs
   */
  constructor(status, body, retryAfterMs = null) {
    super(body?.error?.message ?? `HTTP ${status}`);
    this.name = "HttpError";
    this.status = status;
    this.body = body;
    /** @type {string} */
    this.code = body?.error?.code ?? "";
    this.retryAfterMs = retryAfterMs;
  }
}

/** No answer: offline, DNS, TLS, connection reset, or the request timed out. */
export class NetworkError extends Error {
  /** @param {string} message */
  constructor(message) {
    super(message);
    this.name = "NetworkError";
  }
}

/**
 * Put a fresh CSRF token wherever the page keeps one (the meta tag, htmx's headers, the
 * forms), so a page opened from the cached app shell can still post once it is online.
 * @param {string} token
 */
function publishToken(token) {
  const meta = document.querySelector('meta[name="csrf-token"]');
  if (!meta || meta.getAttribute("content") === token) return;
  meta.setAttribute("content", token);
  if (document.body?.hasAttribute("hx-headers")) {
    document.body.setAttribute("hx-headers", JSON.stringify({ "X-CSRFToken": token }));
  }
  document.querySelectorAll('input[name="csrf_token"]').forEach((input) => {
    /** @type {HTMLInputElement} */ (input).value = token;
  });
}

/**
 * @typedef {{user_id: string, csrf_token: string, version: string}} Session
 * @typedef {object} Api
 * @property {() => Promise<Session>} session  who is logged in; refreshes the CSRF token
 * @property {(body: {client_id: string, mutations: object[]}) => Promise<any>} push
 * @property {(body: {cursor: string|null, client_id: string, limit?: number}) => Promise<any>} pull
 * @property {() => Promise<{items: any[], next: string|null}>} rejections
 * @property {(id: string) => Promise<void>} dismissRejection
 */

/**
 * @param {{sessionUrl?: string, timeoutMs?: number}} [options]
 * @returns {Api}
 */
export function createApi({ sessionUrl = PATHS.session, timeoutMs = 30_000 } = {}) {
  let csrf = document.querySelector('meta[name="csrf-token"]')?.getAttribute("content") ?? "";

  /**
   * @param {string} method
   * @param {string} path
   * @param {any} [body]
   */
  async function request(method, path, body) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    try {
      /** @type {Response} */
      let response;
      try {
        response = await fetch(path, {
          method,
          credentials: "same-origin",
          redirect: "manual",
          cache: "no-store",
          headers: { Accept: "application/json", "Content-Type": "application/json", "X-CSRFToken": csrf },
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: controller.signal,
        });
      } catch (error) {
        throw new NetworkError(String(error?.message ?? error));
      }
      if (response.type === "opaqueredirect") throw new HttpError(401, null);
      let data = null;
      if (response.status !== 204) {
        try {
          data = await response.json();
        } catch (error) {
          if (error?.name === "AbortError") throw new NetworkError("timed out");
          data = null;  // not JSON (a proxy's error page)
        }
      }
      if (!response.ok) {
        throw new HttpError(response.status, data,
          parseRetryAfter(response.headers.get("Retry-After"), Date.now()));
      }
      return data;
    } finally {
      clearTimeout(timer);
    }
  }

  return {
    async session() {
      const session = await request("GET", sessionUrl);
      csrf = session.csrf_token;
      publishToken(csrf);
      return session;
    },
    push: (body) => request("POST", PATHS.push, body),
    pull: (body) => request("POST", PATHS.pull, body),
    rejections: () => request("GET", PATHS.rejections),
    async dismissRejection(id) {
      await request("POST", `${PATHS.rejections}/${encodeURIComponent(id)}/dismiss`, {});
    },
  };
}
