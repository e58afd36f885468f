import type { Frame, Hole } from "./spool-frame.ts";
import type { LossReason } from "./spool-types.ts";

/** Records and bytes lost, by where. */
export type Damage = Record<LossReason, { records: number; bytes: number }>;

/** Nothing lost. */
export const noLoss = () => ({ records: 0, bytes: 0 });

/** What recovery carries from one segment to the next: the sequence number due, and a hole not yet explained. */
export interface LossCarry {
  expected: number;
  pendingHole: boolean;
}

/**
 * The records and bytes a segment's damage cost (its torn tail aside), from its verified frames and its holes.
 * Records are counted by the gaps in sequence numbers at or after the saved head (`saved`): behind a hole
 * they were damaged (`checksum`), with no hole at all their bytes are gone (`missing`: a deleted segment).
 * A hole at the end of a segment is blamed for the gap at the start of the next, hence the carry. Pure.
 */
export function segmentLosses(
  frames: readonly Frame[],
  holes: readonly Hole[],
  saved: number | undefined,
  carry: LossCarry,
): { damage: Omit<Damage, "torn">; carry: LossCarry } {
  const damage = { checksum: noLoss(), missing: noLoss() };
  for (const h of holes) damage.checksum.bytes += h.end - h.offset;
  let { expected, pendingHole } = carry;
  let next = 0;
  for (const f of frames) {
    while (holes[next] && holes[next]!.end <= f.offset) {
      pendingHole = true;
      next++;
    }
    const gap = f.seq - Math.max(expected, saved ?? 0);
    if (gap > 0) damage[pendingHole ? "checksum" : "missing"].records += gap;
    expected = f.seq + 1;
    pendingHole = false;
  }
  if (holes.length > next) pendingHole = true;
  return { damage, carry: { expected, pendingHole } };
}
