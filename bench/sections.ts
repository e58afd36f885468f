import { measureAgentMemory } from "./agent-memory.ts";
import { type AgentMemoryResult, agentMemoryMarkdown } from "./agent-memory-report.ts";
import type { CollectionResult } from "./collection.ts";
import { measureCollection, PLANS } from "./collection.ts";
import { collectionMarkdown } from "./collection-report.ts";
import { type DeliveryResult, deliveryMarkdown, measureDelivery } from "./delivery.ts";
import { type HotApplyResult, hotApplyMarkdown, measureHotApply } from "./hot-apply.ts";
import { type ImageResult, imageMarkdown, measureImage } from "./image.ts";
import { measureKubevirtDaemons } from "./kubevirt-daemons.ts";
import { type KubevirtDaemonsResult, kubevirtDaemonsMarkdown } from "./kubevirt-daemons-report.ts";
import { measureOperatorScale, type OperatorScaleResult, operatorScaleMarkdown } from "./operator-scale.ts";
import type { Machine } from "./proc.ts";
import { measureScale, type ScaleResult, scaleMarkdown } from "./scale.ts";
import { ensureBenchPackages } from "./setup.ts";
import { measureStatGroups, type StatGroupsResult, statGroupsMarkdown } from "./stat-groups.ts";
import { measureValidation, type ValidationResult, validationMarkdown } from "./validation.ts";

/** What every benchmark runs with. */
export interface BenchOptions {
  root: string;
  quick: boolean;
  log: (line: string) => void;
}

/** Where and with what a result was measured; stored next to it. */
export interface RunContext {
  date: string;
  mode: "quick" | "full";
  machine: Machine;
  versions: Record<string, string>;
}

/** One benchmark: how to measure it and how to render its stored result as a section of the report. */
export interface Section<R> {
  /** Its name on the command line (`--only`) and in `bench/results/<name>.json`. */
  name: string;
  measure(opts: BenchOptions): Promise<R>;
  markdown(result: R, ctx: RunContext, file: string): string;
}

const collection: Section<CollectionResult> = {
  name: "collection",
  async measure(opts) {
    const missing = ensureBenchPackages();
    if (missing.some((p) => !p.name.startsWith("prometheus-") && p.name !== "collectd-core"))
      throw new Error(`needs ${missing.map((p) => p.name).join(", ")} (run as root to install them)`);
    const skip = new Map<string, string>();
    for (const p of missing)
      skip.set(
        p.name === "collectd-core" ? "collectd" : "libvirt-exporter + node-exporter",
        `${p.name} is not installed`,
      );
    return measureCollection(PLANS[opts.quick ? "quick" : "full"], { root: opts.root, skip, log: opts.log });
  },
  markdown: (result, ctx, file) => collectionMarkdown(result, ctx, file),
};

/** Every benchmark, in the order of the report; they run cheapest first (see `RUN_ORDER`). */
export const SECTIONS = [
  {
    name: "validation",
    measure: measureValidation,
    markdown: validationMarkdown,
  } as Section<ValidationResult>,
  collection,
  {
    name: "stat-groups",
    measure: measureStatGroups,
    markdown: statGroupsMarkdown,
  } as Section<StatGroupsResult>,
  { name: "scale", measure: measureScale, markdown: scaleMarkdown } as Section<ScaleResult>,
  {
    name: "agent-memory",
    measure: measureAgentMemory,
    markdown: agentMemoryMarkdown,
  } as Section<AgentMemoryResult>,
  {
    name: "kubevirt-daemons",
    measure: measureKubevirtDaemons,
    markdown: kubevirtDaemonsMarkdown,
  } as Section<KubevirtDaemonsResult>,
  { name: "hot-apply", measure: measureHotApply, markdown: hotApplyMarkdown } as Section<HotApplyResult>,
  { name: "delivery", measure: measureDelivery, markdown: deliveryMarkdown } as Section<DeliveryResult>,
  {
    name: "operator-scale",
    measure: measureOperatorScale,
    markdown: operatorScaleMarkdown,
  } as Section<OperatorScaleResult>,
  { name: "image", measure: measureImage, markdown: imageMarkdown } as Section<ImageResult>,
] as const;

/** The order they run in: the real guests last, so nothing else runs while libvirtd and QEMU are measured. */
export const RUN_ORDER = [
  "validation",
  "image",
  "operator-scale",
  "delivery",
  "hot-apply",
  "agent-memory",
  "kubevirt-daemons",
  "scale",
  "stat-groups",
  "collection",
];
