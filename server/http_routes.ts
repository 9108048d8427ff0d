/**
 * The HTTP side's routes as one `fetch(request)` function (no socket:
 * http.ts serves it, tests call it): the dashboard page and its script and
 * style, `/healthz`, `/metrics`, and the JSON API under `/api/`. Everything
 * but the page's own files and `/healthz` passes `authorize` first.
 *
 * @module
 */

import { Api, ApiError } from "./http_api.ts";
import { dashboardHtml, dashboardScript, dashboardStyle } from "./http_page.ts";
import { renderServerMetrics, type RequestMetrics } from "./metrics_server.ts";
import type { Node } from "./node.ts";

/** Decides whether a request may read the ring (a bearer token with auth on); true lets it. */
export type Authorize = (request: Request) => boolean | Promise<boolean>;

/** What the routes need. */
export interface HttpDeps {
  readonly node: Node;
  readonly metrics: RequestMetrics;
  /** Connections the protocol listener holds open now. */
  readonly connections: () => number;
  /** Absent: every request may read (the HTTP side listens on loopback only then). */
  readonly authorize?: Authorize;
  /** False while the server starts (joins, reconciles): every route answers 503 then. */
  readonly ready?: () => boolean;
  readonly log?: (message: string) => void;
}

const security = {
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-store",
};

/** The page's policy: only this server's own script, style and API. */
const contentSecurityPolicy =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

function json(value: unknown, status = 200): Response {
  return new Response(JSON.stringify(value), {
    status,
    headers: { ...security, "content-type": "application/json; charset=utf-8" },
  });
}

function text(body: string, type: string, extra: Record<string, string> = {}): Response {
  return new Response(body, { headers: { ...security, "content-type": type, ...extra } });
}

/** The HTTP side of one server. */
export function httpHandler(deps: HttpDeps): (request: Request) => Promise<Response> {
  const api = new Api(deps.node);
  const log = deps.log ?? (() => {});
  return async (request) => {
    const url = new URL(request.url);
    if (request.method !== "GET" && request.method !== "HEAD") {
      return json({ error: "Only GET is served", reason: "method" }, 405);
    }
    if (deps.ready && !deps.ready()) {
      return json({ status: "starting", id: deps.node.id, reason: "starting" }, 503);
    }
    const open = openRoute(url.pathname, deps);
    if (open) return open;
    if (deps.authorize && !(await deps.authorize(request))) {
      return new Response(
        JSON.stringify({ error: "A client credential is needed", reason: "unauthorized" }),
        {
          status: 401,
          headers: {
            ...security,
            "content-type": "application/json; charset=utf-8",
            "www-authenticate": 'Bearer realm="cloud"',
          },
        },
      );
    }
    try {
      return await apiRoute(url, api, deps);
    } catch (error) {
      if (error instanceof ApiError) {
        return json({ error: error.message, reason: error.reason }, error.status);
      }
      log(`http: ${url.pathname} failed: ${(error as Error).stack ?? error}`);
      return json({ error: (error as Error).message, reason: "internal" }, 500);
    }
  };
}

/** Routes served without a credential: the page's files (no data in them) and health. */
function openRoute(path: string, deps: HttpDeps): Response | null {
  switch (path) {
    case "/":
      return text(dashboardHtml, "text/html; charset=utf-8", {
        "content-security-policy": contentSecurityPolicy,
      });
    case "/dashboard.js":
      return text(dashboardScript, "text/javascript; charset=utf-8");
    case "/dashboard.css":
      return text(dashboardStyle, "text/css; charset=utf-8");
    case "/favicon.ico":
      return new Response(null, { status: 204, headers: security });
    case "/healthz": {
      const info = deps.node.info(Infinity);
      const state = info.reconciling ? "starting" : "ok";
      return json({ status: state, id: deps.node.id }, state === "ok" ? 200 : 503);
    }
    default:
      return null;
  }
}

async function apiRoute(url: URL, api: Api, deps: HttpDeps): Promise<Response> {
  const path = url.pathname;
  if (path === "/metrics") {
    const body = renderServerMetrics(deps.node, {
      requests: deps.metrics,
      connections: deps.connections(),
    });
    return text(body, "text/plain; version=0.0.4; charset=utf-8");
  }
  if (path === "/api/ring") return json(await api.ring());
  if (path === "/api/info") return json(deps.node.info(0));
  if (path === "/api/jobs") return json(await api.jobs(url.searchParams));
  if (path === "/api/runners") return json(await api.runners());
  const job = /^\/api\/jobs\/([0-9a-fA-F]{1,8})$/.exec(path);
  if (job) return json(await api.job(job[1]!));
  const object = /^\/api\/objects\/([0-9a-fA-F]{1,8})$/.exec(path);
  if (object) return json(await api.object(object[1]!));
  return json({ error: `No route ${path}`, reason: "not-found" }, 404);
}
