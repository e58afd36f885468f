import type { IncomingMessage, ServerResponse } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import { parse as parseYaml } from "yaml";
import { apiGroupList, apiResourceList, apiVersions } from "./discovery.ts";
import { asPartialObjectMetadata, META_V1, negotiate } from "./metadata.ts";
import { ADMIN, authorize, forbidden, type UserInfo, verbOf } from "./rbac.ts";
import { apiVersionOf, qualifiedName, type Registry, type ResourceType } from "./registry.ts";
import { parseFieldSelector, parseLabelSelector } from "./selectors.ts";
import { type DeleteOptions, PATCH_TYPES, type PatchType, type Store } from "./store.ts";
import { ApiError, failure, isObject, type K8sObject } from "./types.ts";
import type { WatchHub } from "./watch.ts";

/** A request as the fake saw it, for assertions. */
export interface RecordedRequest {
  method: string;
  path: string;
  query: string;
  contentType?: string;
  /** The Accept header, when the request had one. */
  accept?: string;
  /** Parsed JSON (or YAML, for apply), else the raw text; absent for an empty body. */
  body?: unknown;
}

/** An injected failure. */
export interface InjectedFailure {
  method: string;
  pattern: RegExp;
  status: number;
  remaining: number;
}

/** What the router needs from the server. */
export interface RouterContext {
  registry: Registry;
  store: Store;
  watches: WatchHub;
  requests: RecordedRequest[];
  failures: InjectedFailure[];
  latencyMs: () => number;
  /** Bearer tokens and their users; a request without an Authorization header acts as the admin. */
  users: ReadonlyMap<string, UserInfo>;
}

/** The Status reason of each HTTP code the fake answers with. */
export const REASONS: Record<number, string> = {
  400: "BadRequest",
  401: "Unauthorized",
  403: "Forbidden",
  404: "NotFound",
  405: "MethodNotAllowed",
  409: "Conflict",
  410: "Expired",
  406: "NotAcceptable",
  415: "UnsupportedMediaType",
  422: "Invalid",
  429: "TooManyRequests",
  500: "InternalError",
  503: "ServiceUnavailable",
  504: "Timeout",
};

function sendJson(
  res: ServerResponse,
  code: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(code, {
    "Content-Type": "application/json",
    "Content-Length": Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

/** A response to send, or "sent" when the route wrote it itself (watch streams, health checks). */
type Reply = { code: number; body: unknown } | "sent";

const reply = (code: number, body: unknown): Reply => ({ code, body });

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/** The route of a resource request: `/api/v1[/namespaces/<ns>]/<plural>[/<name>[/<sub>]]` or `/apis/<g>/<v>/...`. */
interface Route {
  rt: ResourceType;
  namespace?: string;
  name?: string;
  subresource?: string;
}

function matchRoute(registry: Registry, segments: string[]): Route | "discovery" | undefined {
  let group = "";
  let rest: string[];
  if (segments[0] === "api" && segments.length >= 2) rest = segments.slice(2);
  else if (segments[0] === "apis" && segments.length >= 3) {
    group = segments[1]!;
    rest = segments.slice(3);
  } else return undefined;
  const version = segments[0] === "api" ? segments[1]! : segments[2]!;
  if (rest.length === 0) return "discovery";
  let namespace: string | undefined;
  if (
    rest[0] === "namespaces" &&
    rest.length >= 3 &&
    registry.byPlural(group, version, rest[2]!)?.namespaced
  ) {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  const rt = registry.byPlural(group, version, rest[0]!);
  if (!rt || rest.length > 3) return undefined;
  if (namespace !== undefined && !rt.namespaced) return undefined;
  return {
    rt,
    ...(namespace !== undefined ? { namespace } : {}),
    ...(rest[1] !== undefined ? { name: rest[1] } : {}),
    ...(rest[2] !== undefined ? { subresource: rest[2] } : {}),
  };
}

const notFound = () => failure(404, "NotFound", "the server could not find the requested resource");
const notAllowed = (method: string) =>
  failure(
    405,
    "MethodNotAllowed",
    `the server does not allow this method on the requested resource (${method})`,
  );

/** Handles one HTTP request against the store. Errors become Status bodies. */
export async function handle(ctx: RouterContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? "/", "http://fake");
  const method = (req.method ?? "GET").toUpperCase();
  const contentType = req.headers["content-type"]?.split(";")[0]?.trim();
  const text = await readBody(req);
  let body: unknown;
  let bodyError: ApiError | undefined;
  if (text !== "") {
    try {
      body = contentType === "application/apply-patch+yaml" ? parseYaml(text) : JSON.parse(text);
    } catch (err) {
      body = text;
      bodyError = failure(
        400,
        "BadRequest",
        `the body of the request could not be decoded: ${(err as Error).message}`,
      );
    }
  }
  ctx.requests.push({
    method,
    path: url.pathname,
    query: url.search.replace(/^\?/, ""),
    ...(contentType ? { contentType } : {}),
    ...(req.headers.accept ? { accept: req.headers.accept } : {}),
    ...(text !== "" ? { body } : {}),
  });
  const latency = ctx.latencyMs();
  if (latency > 0) await sleep(latency);
  try {
    const injected = ctx.failures.find(
      (f) =>
        f.remaining > 0 &&
        (f.method === "*" || f.method.toUpperCase() === method) &&
        f.pattern.test(url.pathname),
    );
    if (injected) {
      injected.remaining--;
      const reason = REASONS[injected.status] ?? "InternalError";
      const err = failure(injected.status, reason, `injected failure: ${reason}`);
      sendJson(res, injected.status, err.status, injected.status === 429 ? { "Retry-After": "1" } : {});
      return;
    }
    if (bodyError) throw bodyError;
    const auth = req.headers.authorization;
    const token = auth?.startsWith("Bearer ") ? auth.slice("Bearer ".length) : undefined;
    const user = auth === undefined ? ADMIN : token !== undefined ? ctx.users.get(token) : undefined;
    if (!user) throw failure(401, "Unauthorized", "Unauthorized");
    const out = route(ctx, req, res, url, method, contentType, body, user);
    if (out !== "sent") sendJson(res, out.code, out.body);
  } catch (err) {
    if (res.headersSent) {
      res.end();
      return;
    }
    if (err instanceof ApiError) sendJson(res, err.code, err.status);
    else sendJson(res, 500, failure(500, "InternalError", (err as Error).message).status);
  }
}

function route(
  ctx: RouterContext,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  method: string,
  contentType: string | undefined,
  body: unknown,
  user: UserInfo,
): Reply {
  const segments = url.pathname
    .split("/")
    .filter((s) => s !== "")
    .map(decodeURIComponent);
  const q = url.searchParams;
  if (method === "GET") {
    if (url.pathname === "/api" || url.pathname === "/api/")
      return reply(200, apiVersions(req.headers.host ?? ""));
    if (url.pathname === "/apis" || url.pathname === "/apis/") return reply(200, apiGroupList(ctx.registry));
    if (url.pathname === "/version") {
      return reply(200, {
        major: "1",
        minor: "33",
        gitVersion: "v1.33.0-fake",
        platform: "linux/amd64",
      });
    }
    if (["/healthz", "/readyz", "/livez"].includes(url.pathname)) {
      res.writeHead(200, { "Content-Type": "text/plain" });
      res.end("ok");
      return "sent";
    }
  }
  const r = matchRoute(ctx.registry, segments);
  if (r === undefined) throw notFound();
  if (r === "discovery") {
    if (method !== "GET") throw notAllowed(method);
    const [group, version] = segments[0] === "api" ? ["", segments[1]!] : [segments[1]!, segments[2]!];
    const list = apiResourceList(ctx.registry, group, version);
    if (!list) throw notFound();
    return reply(200, list);
  }
  const { rt, namespace, name, subresource } = r;
  if (subresource !== undefined && (subresource !== "status" || !rt.statusSubresource)) throw notFound();
  // RBAC, as kube-apiserver authorizes: a list or watch narrowed to one name by a metadata.name field
  // selector is authorized against that name.
  const watching = q.get("watch") === "true" || q.get("watch") === "1";
  const selectedName = /^metadata\.name==?([^,]+)$/.exec(q.get("fieldSelector") ?? "")?.[1];
  const attrs = {
    verb: verbOf(method, name !== undefined, watching),
    rt,
    ...(subresource !== undefined ? { subresource } : {}),
    ...(namespace !== undefined ? { namespace } : {}),
    ...(name !== undefined ? { name } : selectedName !== undefined ? { name: selectedName } : {}),
  };
  if (!authorize(ctx.registry, ctx.store, user, attrs)) throw forbidden(user, attrs);
  const manager = q.get("fieldManager") ?? req.headers["user-agent"]?.split(/[\s/]/)[0] ?? "unknown";

  if (name === undefined) {
    if (method === "GET") {
      const matches = (
        (l, f) => (o: K8sObject) =>
          l(o) && f(o)
      )(parseLabelSelector(q.get("labelSelector")), parseFieldSelector(q.get("fieldSelector"), rt.kind));
      if (watching) {
        const timeout = q.get("timeoutSeconds");
        ctx.watches.serve(res, url.pathname, {
          rt,
          metadataOnly: negotiate(req.headers.accept, false) === "PartialObjectMetadata",
          namespace,
          matches,
          resourceVersion: q.get("resourceVersion") ?? undefined,
          bookmarks: q.get("allowWatchBookmarks") === "true" || q.get("allowWatchBookmarks") === "1",
          timeoutSeconds: timeout === null ? undefined : Number(timeout),
        });
        return "sent";
      }
      const items = ctx.store.list(rt, namespace, matches);
      if (negotiate(req.headers.accept, true) === "PartialObjectMetadataList") {
        return reply(200, {
          apiVersion: META_V1,
          kind: "PartialObjectMetadataList",
          metadata: { resourceVersion: ctx.store.resourceVersion },
          items: items.map(asPartialObjectMetadata),
        });
      }
      return reply(200, {
        apiVersion: apiVersionOf(rt),
        kind: `${rt.kind}List`,
        metadata: { resourceVersion: ctx.store.resourceVersion },
        items,
      });
    }
    if (method === "POST") {
      if (rt.namespaced && namespace === undefined) throw notAllowed(method);
      return reply(201, ctx.store.create(rt, body, { manager, user }, namespace));
    }
    throw notAllowed(method);
  }

  if (rt.namespaced && namespace === undefined) throw notFound();
  const opts = { manager, user, ...(subresource === "status" ? { subresource: "status" as const } : {}) };
  switch (method) {
    case "GET": {
      const obj = ctx.store.get(rt, name, namespace);
      if (!obj)
        throw failure(404, "NotFound", `${qualifiedName(rt)} "${name}" not found`, { name, kind: rt.plural });
      return reply(
        200,
        negotiate(req.headers.accept, false) === "object" ? obj : asPartialObjectMetadata(obj),
      );
    }
    case "PUT":
      return reply(200, ctx.store.update(rt, body, opts, namespace, name));
    case "PATCH": {
      if (!PATCH_TYPES.includes(contentType as PatchType)) {
        throw failure(
          415,
          "UnsupportedMediaType",
          `the body of the request was in an unknown format - accepted media types include: ${PATCH_TYPES.join(", ")}`,
        );
      }
      const force = q.get("force");
      const patchManager =
        q.get("fieldManager") ?? (contentType === "application/apply-patch+yaml" ? "" : manager);
      const result = ctx.store.patch(rt, name, namespace, contentType as PatchType, body, {
        ...opts,
        manager: patchManager,
        ...(force !== null ? { force: force === "true" } : {}),
      });
      return reply(result.created ? 201 : 200, result.object);
    }
    case "DELETE": {
      if (subresource) throw notAllowed(method);
      const options: DeleteOptions = isObject(body) ? (body as DeleteOptions) : {};
      const policy = q.get("propagationPolicy") ?? options.propagationPolicy;
      const { object, deleted } = ctx.store.delete(rt, name, namespace, {
        ...(policy ? { propagationPolicy: policy as DeleteOptions["propagationPolicy"] } : {}),
        ...(options.preconditions ? { preconditions: options.preconditions } : {}),
        user,
      });
      // Custom resources answer with the deleted object; built-in kinds with a Success Status.
      if (!deleted || rt.custom) return reply(200, object);
      return reply(200, {
        kind: "Status",
        apiVersion: "v1",
        metadata: {},
        status: "Success",
        details: {
          name,
          ...(rt.group ? { group: rt.group } : {}),
          kind: rt.plural,
          uid: object.metadata.uid,
        },
      });
    }
    default:
      throw notAllowed(method);
  }
}
