import { describe, expect, it } from "vitest";
import { ManualTimers } from "../test/helpers/manual-timers.ts";
import { MutationCache } from "./mutation-cache.ts";
import type { KubeObject } from "./reflector.ts";

const obj = (name: string, rv: string, hash = "") =>
  ({ metadata: { name, resourceVersion: rv }, hash }) as KubeObject & { hash: string };

describe("MutationCache", () => {
  const setup = () => {
    const backing = new Map<string, KubeObject & { hash: string }>();
    const timers = new ManualTimers();
    const cache = new MutationCache(() => backing, { timers, ttlMs: 10_000 });
    return { backing, timers, cache };
  };

  it("reads back its own write until the informer holds that version or a newer one", () => {
    const { backing, cache } = setup();
    backing.set("a", obj("a", "10", "old"));
    cache.mutated("a", obj("a", "12", "mine"));
    expect(cache.get("a")?.hash).toBe("mine");
    backing.set("a", obj("a", "11", "between"));
    expect(cache.get("a")?.hash).toBe("mine");
    backing.set("a", obj("a", "12", "mine"));
    expect(cache.get("a")?.hash).toBe("mine");
    expect(cache.size).toBe(0);
    backing.set("a", obj("a", "15", "theirs"));
    expect(cache.get("a")?.hash).toBe("theirs");
  });

  it("shows a create the informer has not delivered, and hides a delete it has not delivered", () => {
    const { backing, cache } = setup();
    cache.mutated("new", obj("new", "20"));
    backing.set("gone", obj("gone", "5"));
    cache.deleted("gone", "21");
    expect(cache.entries().map(([k]) => k)).toEqual(["new"]);
    expect(cache.has("gone")).toBe(false);
    // The informer delivers the DELETED event: the delete is forgotten, and a later re-create shows.
    cache.observe("gone", obj("gone", "21"));
    backing.delete("gone");
    backing.set("gone", obj("gone", "30"));
    expect(cache.has("gone")).toBe(true);
  });

  it("forgets a write the informer never confirms after the TTL, and one an event has passed", () => {
    const { backing, timers, cache } = setup();
    backing.set("a", obj("a", "10", "old"));
    cache.mutated("a", obj("a", "12", "mine"));
    timers.advance(10_001);
    expect(cache.get("a")?.hash).toBe("old");
    cache.mutated("b", obj("b", "40"));
    cache.observe("b", obj("b", "41"));
    expect(cache.has("b")).toBe(false);
  });

  it("lets the informer win when resourceVersions are not numbers", () => {
    const { backing, cache } = setup();
    backing.set("a", obj("a", "x1", "informer"));
    cache.mutated("a", obj("a", "x2", "mine"));
    expect(cache.get("a")?.hash).toBe("informer");
  });
});
