import { clone, deepEqual, failure, isObject, type JsonObject } from "./types.ts";

/** RFC 7386 JSON merge patch: objects merge recursively, `null` deletes, anything else replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return clone(patch);
  const out: JsonObject = isObject(target) ? clone(target) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/** One RFC 6902 operation. */
interface Operation {
  op: string;
  path: string;
  from?: string;
  value?: unknown;
}

function invalid(message: string) {
  return failure(422, "Invalid", message);
}

function pointer(path: string): string[] {
  if (path === "") return [];
  if (!path.startsWith("/")) throw invalid(`invalid JSON pointer: ${JSON.stringify(path)}`);
  return path
    .slice(1)
    .split("/")
    .map((p) => p.replaceAll("~1", "/").replaceAll("~0", "~"));
}

function index(arr: unknown[], token: string, forAdd: boolean): number {
  if (forAdd && token === "-") return arr.length;
  if (!/^(0|[1-9][0-9]*)$/.test(token)) throw invalid(`invalid array index ${JSON.stringify(token)}`);
  const i = Number(token);
  if (i > arr.length || (!forAdd && i === arr.length)) throw invalid(`array index ${i} out of bounds`);
  return i;
}

/** The container holding the last token of `path`, and that token. */
function parentOf(doc: unknown, tokens: string[], path: string): { parent: unknown; last: string } {
  let cur = doc;
  for (const t of tokens.slice(0, -1)) {
    if (Array.isArray(cur)) cur = cur[index(cur, t, false)];
    else if (isObject(cur) && t in cur) cur = cur[t];
    else throw invalid(`doc is missing path: "${path}"`);
  }
  return { parent: cur, last: tokens[tokens.length - 1]! };
}

function read(doc: unknown, path: string): unknown {
  let cur = doc;
  for (const t of pointer(path)) {
    if (Array.isArray(cur)) cur = cur[index(cur, t, false)];
    else if (isObject(cur) && t in cur) cur = cur[t];
    else throw invalid(`doc is missing path: "${path}"`);
  }
  return cur;
}

function remove(doc: unknown, path: string): unknown {
  const tokens = pointer(path);
  if (tokens.length === 0) throw invalid("cannot remove the whole document");
  const { parent, last } = parentOf(doc, tokens, path);
  if (Array.isArray(parent)) return parent.splice(index(parent, last, false), 1)[0];
  if (isObject(parent) && last in parent) {
    const old = parent[last];
    delete parent[last];
    return old;
  }
  throw invalid(`doc is missing path: "${path}"`);
}

function add(doc: unknown, path: string, value: unknown, replace: boolean): unknown {
  const tokens = pointer(path);
  if (tokens.length === 0) return value;
  const { parent, last } = parentOf(doc, tokens, path);
  if (Array.isArray(parent)) {
    const i = index(parent, last, !replace);
    parent.splice(i, replace ? 1 : 0, value);
  } else if (isObject(parent)) {
    if (replace && !(last in parent)) throw invalid(`doc is missing key: "${path}"`);
    parent[last] = value;
  } else throw invalid(`doc is missing path: "${path}"`);
  return doc;
}

/** RFC 6902 JSON patch: add, remove, replace, move, copy and test. A failed `test` is a 422. */
export function jsonPatch(target: unknown, ops: unknown): unknown {
  if (!Array.isArray(ops)) throw failure(400, "BadRequest", "json patch must be an array of operations");
  let doc = clone(target);
  for (const raw of ops as Operation[]) {
    if (!isObject(raw) || typeof raw.op !== "string" || typeof raw.path !== "string") {
      throw failure(400, "BadRequest", `invalid json patch operation: ${JSON.stringify(raw)}`);
    }
    switch (raw.op) {
      case "add":
        doc = add(doc, raw.path, clone(raw.value), false);
        break;
      case "replace":
        doc = add(doc, raw.path, clone(raw.value), true);
        break;
      case "remove":
        remove(doc, raw.path);
        break;
      case "move": {
        const v = remove(doc, raw.from ?? "");
        doc = add(doc, raw.path, v, false);
        break;
      }
      case "copy":
        doc = add(doc, raw.path, clone(read(doc, raw.from ?? "")), false);
        break;
      case "test":
        if (!deepEqual(read(doc, raw.path), raw.value)) {
          throw invalid(
            `the server rejected our request due to an error in our request: testing value ${raw.path} failed`,
          );
        }
        break;
      default:
        throw failure(400, "BadRequest", `unknown json patch operation ${JSON.stringify(raw.op)}`);
    }
  }
  return doc;
}
