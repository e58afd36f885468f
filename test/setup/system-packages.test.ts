import { describe, expect, it } from "vitest";
import { missingPackages } from "./system-packages.ts";

describe("missingPackages", () => {
  const wanted = [
    { name: "libvirt-daemon", neededBy: "libvirt tests" },
    { name: "qemu-system-x86", neededBy: "guest tests" },
    { name: "golang-go", neededBy: "chart tests" },
  ];

  it("keeps packages dpkg does not report installed", () => {
    const out = "libvirt-daemon installed\nqemu-system-x86 config-files\n";
    expect(missingPackages(out, wanted).map((p) => p.name)).toEqual(["qemu-system-x86", "golang-go"]);
  });

  it("reads multi-arch names and tolerates blank lines", () => {
    const out = "\nlibvirt-daemon:amd64 installed\nqemu-system-x86 installed\ngolang-go installed\n";
    expect(missingPackages(out, wanted)).toEqual([]);
  });
});
