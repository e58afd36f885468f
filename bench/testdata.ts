// Fixtures shared by the benchmark reports' tests.
import type { Machine } from "./proc.ts";

/** The machine a report fixture was "measured" on. */
export const MACHINE: Machine = {
  cpuModel: "AMD EPYC 7B13",
  cores: 2,
  memoryGiB: 7.8,
  kernel: "6.18.44",
  cgroup: "v2",
  os: "Debian GNU/Linux 13 (trixie)",
};
