import { failure, type K8sObject } from "./types.ts";

/** The group/version of the metadata-only kinds. */
export const META_V1 = "meta.k8s.io/v1";

/** What a request's Accept header asks for: whole objects, or metadata only (one object or a list). */
export type Rendering = "object" | "PartialObjectMetadata" | "PartialObjectMetadataList";

/** Media types the fake serves: kube-apiserver also serves YAML and protobuf, this fake JSON only. */
const JSON_TYPES = new Set(["application/json", "application/*", "*/*"]);

const notAcceptable = (message: string) => failure(406, "NotAcceptable", message);

/**
 * Picks the first media type of `accept` the fake can serve, as kube-apiserver's content negotiation does:
 * plain JSON gives whole objects; `application/json;as=PartialObjectMetadata[List];g=meta.k8s.io;v=v1`
 * gives metadata only. Any other conversion (`as=Table`, another group) is skipped; when nothing is left,
 * 406 NotAcceptable. `list` says whether the response is a collection (a list) or one object (a get, or
 * each event of a watch): kube-apiserver refuses a metadata kind that does not match it with 406.
 */
export function negotiate(accept: string | undefined, list: boolean): Rendering {
  if (accept === undefined || accept.trim() === "") return "object";
  for (const entry of accept.split(",")) {
    const [type, ...rawParams] = entry.split(";").map((s) => s.trim());
    if (!JSON_TYPES.has((type ?? "").toLowerCase())) continue;
    const params = new Map(
      rawParams.map((p) => {
        const eq = p.indexOf("=");
        return [p.slice(0, eq).trim(), p.slice(eq + 1).trim()] as const;
      }),
    );
    const as = params.get("as");
    if (as === undefined) return "object";
    if (params.get("g") !== "meta.k8s.io" || params.get("v") !== "v1") continue;
    if (as === "PartialObjectMetadata" || as === "PartialObjectMetadataList") {
      if ((as === "PartialObjectMetadataList") !== list) {
        throw notAcceptable(
          list
            ? "you requested PartialObjectMetadata, but the requested object is a list"
            : "you requested PartialObjectMetadataList, but the requested object is not a list",
        );
      }
      return as;
    }
  }
  throw notAcceptable("only the following media types are accepted: application/json");
}

/** An object as `PartialObjectMetadata`: its metadata, nothing else. */
export function asPartialObjectMetadata(o: K8sObject): K8sObject {
  return { apiVersion: META_V1, kind: "PartialObjectMetadata", metadata: o.metadata };
}
