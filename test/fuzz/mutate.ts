import { randomBytes } from "../helpers/prng.ts";

/** 32-bit values that sit on the edges of what the decoder checks: lengths, counts, flags, discriminants. */
const INTERESTING = [
  0, 1, 2, 3, 4, 7, 8, 12, 16, 28, 255, 4096, 16384, 16385, 0x7fffffff, 0x80000000, 0xffffffff,
];

/** How a packet was changed, for the failure message of a case that misbehaves. */
export interface Mutation {
  kind: string;
  bytes: Buffer;
}

/**
 * One seeded mutation of a captured packet: a flipped bit, a random byte, an edge value in an aligned word
 * (lengths, counts and discriminants are all 32-bit words in XDR), the length word itself, a cut, random bytes
 * appended or a repeated slice. The header is mutated as often as the body, since both decide what the
 * client does with what follows.
 */
export function mutate(packet: Buffer, random: () => number): Mutation {
  const out = Buffer.from(packet);
  const pick = (n: number) => Math.floor(random() * n);
  const word = () => pick(Math.max(1, out.length >> 2)) << 2;
  switch (pick(8)) {
    case 0: {
      const at = pick(out.length);
      out[at] = out[at]! ^ (1 << pick(8));
      return { kind: `bit flip at ${at}`, bytes: out };
    }
    case 1: {
      const at = pick(out.length);
      out[at] = pick(256);
      return { kind: `byte ${at} = ${out[at]}`, bytes: out };
    }
    case 2:
    case 3: {
      const at = word();
      const v = INTERESTING[pick(INTERESTING.length)]!;
      if (at + 4 <= out.length) out.writeUInt32BE(v, at);
      return { kind: `word ${at} = ${v}`, bytes: out };
    }
    case 4: {
      const v = random() < 0.5 ? INTERESTING[pick(INTERESTING.length)]! : out.length + pick(64) - 32;
      out.writeUInt32BE(v >>> 0, 0);
      return { kind: `length word = ${v}`, bytes: out };
    }
    case 5: {
      const keep = pick(out.length);
      return { kind: `cut to ${keep} bytes`, bytes: out.subarray(0, keep) };
    }
    case 6: {
      const extra = randomBytes(random, 1 + pick(64));
      const longer = Buffer.concat([out, extra]);
      // Half the time the length word owns up to the extra bytes (trailing garbage inside the packet).
      if (random() < 0.5) longer.writeUInt32BE(longer.length, 0);
      return { kind: `${extra.length} random bytes appended`, bytes: longer };
    }
    default: {
      const from = 28 + pick(Math.max(1, out.length - 28));
      const slice = out.subarray(from, from + 1 + pick(32));
      const longer = Buffer.concat([out.subarray(0, from), slice, out.subarray(from)]);
      longer.writeUInt32BE(longer.length, 0);
      return { kind: `${slice.length} bytes at ${from} repeated`, bytes: longer };
    }
  }
}
