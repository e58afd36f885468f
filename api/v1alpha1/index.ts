export * from "./collectors.ts";
export * from "./conditions.ts";
export * from "./monitoring-profile.ts";
export * from "./node-monitor.ts";
export * from "./sinks.ts";
export type * from "./types.ts";
