export { serviceAccountUser, type UserInfo } from "./rbac.ts";
export type { ResourceType } from "./registry.ts";
export type { RecordedRequest } from "./router.ts";
export { DIRECT_MANAGER, FakeApiServer, type FakeApiServerOptions } from "./server.ts";
export { ApiError, type K8sObject, type ObjectMeta, type OwnerReference, type Status } from "./types.ts";
