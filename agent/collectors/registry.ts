import type { CollectorName } from "../../api/v1alpha1/collectors.ts";
import type { CollectorFactory } from "./collector.ts";

/** Collector factories by name. Registering a name twice is a programming error and throws. */
export class CollectorRegistry {
  #factories = new Map<CollectorName, CollectorFactory>();

  register(factory: CollectorFactory): this {
    if (this.#factories.has(factory.name))
      throw new Error(`collector "${factory.name}" is already registered`);
    this.#factories.set(factory.name, factory);
    return this;
  }

  get(name: CollectorName): CollectorFactory | undefined {
    return this.#factories.get(name);
  }

  names(): CollectorName[] {
    return [...this.#factories.keys()].sort();
  }
}
