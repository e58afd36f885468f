import { connect } from "node:net";
import { Duplex } from "node:stream";
import { decodeHeader, type Header, PacketSplitter } from "../../agent/libvirt/protocol.ts";

/** One packet seen on the wire. */
export interface RecordedPacket {
  label: string;
  direction: "tx" | "rx";
  header: Header;
  bytes: Buffer;
}

/** A socket dialer that records every packet in both directions, tagged with the current `label`. */
export function recordingDialer() {
  const packets: RecordedPacket[] = [];
  const state = { label: "" };
  const dial = (path: string): Duplex => {
    const sock = connect(path);
    const rx = new PacketSplitter();
    const tx = new PacketSplitter();
    const record = (direction: "tx" | "rx", found: Buffer[]) => {
      for (const p of found)
        packets.push({ label: state.label, direction, header: decodeHeader(p), bytes: Buffer.from(p) });
    };
    const duplex = new Duplex({
      write(chunk: Buffer, _enc, cb) {
        record("tx", tx.push(chunk));
        sock.write(chunk, cb);
      },
      read() {},
      destroy(err, cb) {
        sock.destroy();
        cb(err);
      },
    });
    sock.on("data", (chunk: Buffer) => {
      record("rx", rx.push(chunk));
      duplex.push(chunk);
    });
    sock.on("connect", () => duplex.emit("connect"));
    sock.on("error", (e) => duplex.destroy(e));
    sock.on("end", () => duplex.push(null));
    return duplex;
  };
  return { dial, packets, state };
}
