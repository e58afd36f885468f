import { type XdrReader, XdrWriter } from "./xdr.ts";

/** Bounds from remote_protocol.x. */
export const REMOTE_DOMAIN_LIST_MAX = 16384;
export const REMOTE_CONNECT_GET_ALL_DOMAIN_STATS_MAX = 4096;
export const REMOTE_AUTH_TYPE_LIST_MAX = 20;

/** remote_nonnull_domain: name, UUID (formatted), id (-1 when inactive). */
export interface Domain {
  name: string;
  uuid: string;
  id: number;
}

/** Formats 16 raw bytes as a canonical UUID. */
export function formatUuid(bytes: Uint8Array): string {
  const hex = Buffer.from(bytes).toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Parses a canonical UUID into 16 bytes; throws a RangeError on anything else. */
export function parseUuid(uuid: string): Buffer {
  const hex = uuid.replaceAll("-", "");
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new RangeError(`invalid UUID "${uuid}"`);
  return Buffer.from(hex, "hex");
}

export function writeDomain(w: XdrWriter, d: Domain): void {
  w.string(d.name).fixedOpaque(parseUuid(d.uuid)).int(d.id);
}

export function readDomain(r: XdrReader): Domain {
  return { name: r.string(), uuid: formatUuid(r.fixedOpaque(16)), id: r.int() };
}

/** A typed parameter (remote_typed_param); 64-bit values are BigInt so counters above 2^53 stay exact. */
export type TypedParam =
  | { field: string; type: "int" | "uint" | "double"; value: number }
  | { field: string; type: "llong" | "ullong"; value: bigint }
  | { field: string; type: "boolean"; value: boolean }
  | { field: string; type: "string"; value: string };

/** VIR_TYPED_PARAM_* discriminants. */
const TYPED_PARAM = { int: 1, uint: 2, llong: 3, ullong: 4, double: 5, boolean: 6, string: 7 } as const;

/** Thrown for a typed-parameter discriminant this client does not know. */
export class UnknownTypedParamError extends Error {
  override name = "UnknownTypedParamError";
}

export function readTypedParam(r: XdrReader): TypedParam {
  const field = r.string();
  const type = r.int();
  switch (type) {
    case TYPED_PARAM.int:
      return { field, type: "int", value: r.int() };
    case TYPED_PARAM.uint:
      return { field, type: "uint", value: r.uint() };
    case TYPED_PARAM.llong:
      return { field, type: "llong", value: r.hyper() };
    case TYPED_PARAM.ullong:
      return { field, type: "ullong", value: r.uhyper() };
    case TYPED_PARAM.double:
      return { field, type: "double", value: r.double() };
    case TYPED_PARAM.boolean:
      return { field, type: "boolean", value: r.int() !== 0 };
    case TYPED_PARAM.string:
      return { field, type: "string", value: r.string() };
    default:
      throw new UnknownTypedParamError(`typed parameter "${field}" has unknown type ${type}`);
  }
}

export function writeTypedParam(w: XdrWriter, p: TypedParam): void {
  w.string(p.field).int(TYPED_PARAM[p.type]);
  switch (p.type) {
    case "int":
      w.int(p.value);
      break;
    case "uint":
      w.uint(p.value);
      break;
    case "llong":
      w.hyper(p.value);
      break;
    case "ullong":
      w.uhyper(p.value);
      break;
    case "double":
      w.double(p.value);
      break;
    case "boolean":
      w.bool(p.value);
      break;
    case "string":
      w.string(p.value);
      break;
  }
}

/** remote_error, the payload of a reply with status ERROR. */
export interface RemoteError {
  code: number;
  domain: number;
  message: string | null;
  level: number;
  dom: Domain | null;
  str1: string | null;
  str2: string | null;
  str3: string | null;
  int1: number;
  int2: number;
  net: { name: string; uuid: string } | null;
}

export function readRemoteError(r: XdrReader): RemoteError {
  return {
    code: r.int(),
    domain: r.int(),
    message: r.optional((x) => x.string()),
    level: r.int(),
    dom: r.optional(readDomain),
    str1: r.optional((x) => x.string()),
    str2: r.optional((x) => x.string()),
    str3: r.optional((x) => x.string()),
    int1: r.int(),
    int2: r.int(),
    net: r.optional((x) => ({ name: x.string(), uuid: formatUuid(x.fixedOpaque(16)) })),
  };
}

export function writeRemoteError(w: XdrWriter, e: RemoteError): void {
  const str = (x: XdrWriter, s: string) => x.string(s);
  w.int(e.code).int(e.domain).optional(e.message, str).int(e.level).optional(e.dom, writeDomain);
  w.optional(e.str1, str).optional(e.str2, str).optional(e.str3, str).int(e.int1).int(e.int2);
  w.optional(e.net, (x, n) => x.string(n.name).fixedOpaque(parseUuid(n.uuid)));
}

/** One record of CONNECT_GET_ALL_DOMAIN_STATS. */
export interface DomainStatsRecord {
  dom: Domain;
  params: TypedParam[];
}

export function readStatsRecord(r: XdrReader): DomainStatsRecord {
  return { dom: readDomain(r), params: r.array(readTypedParam, REMOTE_CONNECT_GET_ALL_DOMAIN_STATS_MAX) };
}

/** A lifecycle event message (DOMAIN_EVENT_CALLBACK_LIFECYCLE). */
export interface LifecycleMessage {
  callbackID: number;
  dom: Domain;
  event: number;
  detail: number;
}

export function readLifecycleMessage(r: XdrReader): LifecycleMessage {
  return { callbackID: r.int(), dom: readDomain(r), event: r.int(), detail: r.int() };
}

/** Small helper for call arguments: build a payload with a writer function. */
export function payload(write: (w: XdrWriter) => void): Buffer {
  const w = new XdrWriter();
  write(w);
  return Buffer.from(w.bytes());
}
