import { describe, expect, it } from "vitest";
import type { LabelSelector } from "../api/v1alpha1/types.ts";
import { matchesSelector } from "./selector.ts";

const worker = { "node-role.kubernetes.io/worker": "", zone: "a", "vesmon.io/vms": "true" };

describe("matchesSelector", () => {
  const cases: [string, LabelSelector | undefined, Record<string, string>, boolean][] = [
    ["absent selector", undefined, worker, true],
    ["empty selector", {}, worker, true],
    ["empty selector, no labels", {}, {}, true],
    ["empty lists", { matchLabels: {}, matchExpressions: [] }, {}, true],
    ["matchLabels hit", { matchLabels: { zone: "a" } }, worker, true],
    ["matchLabels wrong value", { matchLabels: { zone: "b" } }, worker, false],
    ["matchLabels absent key", { matchLabels: { rack: "1" } }, worker, false],
    ["matchLabels empty value", { matchLabels: { "node-role.kubernetes.io/worker": "" } }, worker, true],
    ["matchLabels all pairs", { matchLabels: { zone: "a", "vesmon.io/vms": "false" } }, worker, false],
    ["In hit", { matchExpressions: [{ key: "zone", operator: "In", values: ["a", "b"] }] }, worker, true],
    ["In miss", { matchExpressions: [{ key: "zone", operator: "In", values: ["c"] }] }, worker, false],
    ["In absent key", { matchExpressions: [{ key: "rack", operator: "In", values: ["1"] }] }, worker, false],
    ["NotIn hit", { matchExpressions: [{ key: "zone", operator: "NotIn", values: ["a"] }] }, worker, false],
    ["NotIn miss", { matchExpressions: [{ key: "zone", operator: "NotIn", values: ["b"] }] }, worker, true],
    [
      "NotIn absent key",
      { matchExpressions: [{ key: "rack", operator: "NotIn", values: ["1"] }] },
      worker,
      true,
    ],
    [
      "Exists",
      { matchExpressions: [{ key: "node-role.kubernetes.io/worker", operator: "Exists" }] },
      worker,
      true,
    ],
    ["Exists absent", { matchExpressions: [{ key: "rack", operator: "Exists" }] }, worker, false],
    ["DoesNotExist", { matchExpressions: [{ key: "rack", operator: "DoesNotExist" }] }, worker, true],
    [
      "DoesNotExist present",
      { matchExpressions: [{ key: "zone", operator: "DoesNotExist" }] },
      worker,
      false,
    ],
    [
      "labels AND expressions",
      {
        matchLabels: { zone: "a" },
        matchExpressions: [{ key: "vesmon.io/vms", operator: "In", values: ["true"] }],
      },
      worker,
      true,
    ],
    [
      "labels pass, expression fails",
      { matchLabels: { zone: "a" }, matchExpressions: [{ key: "zone", operator: "DoesNotExist" }] },
      worker,
      false,
    ],
    [
      "every expression must hold",
      {
        matchExpressions: [
          { key: "zone", operator: "Exists" },
          { key: "vesmon.io/vms", operator: "NotIn", values: ["true"] },
        ],
      },
      worker,
      false,
    ],
    [
      "inherited names are not labels",
      { matchExpressions: [{ key: "toString", operator: "Exists" }] },
      {},
      false,
    ],
  ];

  it.each(cases)("%s", (_name, selector, labels, want) => {
    expect(matchesSelector(selector, labels)).toBe(want);
  });
});
