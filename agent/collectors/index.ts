import { cgroupsCollector } from "./cgroups.ts";
import type { CollectorFactory } from "./collector.ts";
import { cpuCollector } from "./cpu.ts";
import { diskCollector } from "./disk.ts";
import { interfaceCollector } from "./interface.ts";
import { loadCollector } from "./load.ts";
import { memoryCollector } from "./memory.ts";
import { CollectorRegistry } from "./registry.ts";
import { virtCollector } from "./virt.ts";

/** Every collector the agent has, listed in one place. */
export const COLLECTOR_FACTORIES: readonly CollectorFactory[] = [
  cpuCollector,
  memoryCollector,
  loadCollector,
  diskCollector,
  interfaceCollector,
  cgroupsCollector,
  virtCollector,
];

/** A registry holding every collector. */
export function createCollectorRegistry(): CollectorRegistry {
  const registry = new CollectorRegistry();
  for (const factory of COLLECTOR_FACTORIES) registry.register(factory);
  return registry;
}
