// A simulated libvirt daemon for the scale benchmark: enough of libvirt's remote protocol for vesmon's client,
// N running QEMU guests whose bulk stats have the shape libvirtd 9.0 sends (test/fixtures/libvirt/packets.json)
// and counters derived from elapsed time. No QEMU, no libvirtd: only the client's side of the cost is real.
// `node bench/libvirt-sim.ts --socket PATH --domains N [--no-guest-balloon] [--stdin-lifeline]`
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { createWriteStream } from "node:fs";
import { rm } from "node:fs/promises";
import { createServer, type Server, type Socket } from "node:net";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import {
  decodeHeader,
  encodePacket,
  FEATURE_PROGRAM_KEEPALIVE,
  HEADER_SIZE,
  type Header,
  KEEPALIVE_PROGRAM,
  KeepaliveProc,
  ListFlags,
  MessageStatus,
  MessageType,
  PacketSplitter,
  PROTOCOL_VERSION,
  Proc,
  REMOTE_PROGRAM,
  StatsGroup,
} from "../agent/libvirt/protocol.ts";
import {
  type Domain,
  formatUuid,
  REMOTE_DOMAIN_LIST_MAX,
  readDomain,
  type TypedParam,
  writeDomain,
  writeRemoteError,
  writeTypedParam,
} from "../agent/libvirt/remote.ts";
import { XdrReader, XdrWriter } from "../agent/libvirt/xdr.ts";
import { prng } from "../test/helpers/prng.ts";
import { terminate } from "./proc.ts";

/** The version CONNECT_GET_LIB_VERSION reports: the libvirt the fixture was captured from. */
export const SIM_LIBVIRT_VERSION = 9_000_000n;

/** One simulated guest: its identity and the fixed traits its counters are derived from. */
export interface SimDomain {
  dom: Domain;
  /** Nova-style instance name, in the XML's metadata. */
  displayName: string;
  memoryKiB: number;
  nic: string;
  diskPath: string;
  /** Seconds the guest had been up when the simulator started. */
  uptimeAtStart: number;
  /** Busy share of the guest's 2 vCPUs, 0–1. */
  load: number;
  /** Random numbers in [0, 1) fixed per guest: rates, sizes and phases of its counters. */
  traits: readonly number[];
}

/** Settings of a LibvirtSim. */
export interface LibvirtSimOptions {
  domains: number;
  /** Clock in ms; counters follow it. Defaults to Date.now. */
  now?: () => number;
  /** Report the guest balloon driver's figures (available, usable, …) as a Linux guest does. Defaults to true. */
  guestBalloon?: boolean;
  /** Server-side keepalive once the client advertises it, as libvirtd's defaults (5 s × 5). */
  keepalive?: { interval: number; count: number };
  /** Index of the first guest, so several simulators (one per KubeVirt pod) serve distinct guests. Defaults to 0. */
  firstDomain?: number;
}

function uuidFrom(rand: () => number): string {
  const b = Buffer.alloc(16);
  for (let i = 0; i < 16; i++) b[i] = Math.floor(rand() * 256);
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  return formatUuid(b);
}

/** The i-th simulated guest; the same i always gives the same guest. */
export function simDomain(i: number): SimDomain {
  const rand = prng(0x5eed0000 + i);
  const uuid = uuidFrom(rand);
  const port = uuidFrom(rand);
  return {
    dom: { name: `instance-${(i + 1).toString(16).padStart(8, "0")}`, uuid, id: i + 1 },
    displayName: `vnf-${["fw", "lb", "upf", "smf", "dns"][i % 5]}-${i}`,
    memoryKiB: 2 ** (20 + (i % 4)),
    nic: `tap${port.slice(0, 11)}`,
    diskPath: `/var/lib/nova/instances/${uuid}/disk`,
    uptimeAtStart: 3600 + Math.floor(rand() * 30 * 86400),
    load: 0.03 + rand() * 0.5,
    traits: Array.from({ length: 12 }, rand),
  };
}

/** A realistic domain XML (an OpenStack Nova KVM guest: 2 vCPUs, one virtio disk vda, one tap NIC, a balloon). */
export function domainXml(d: SimDomain): string {
  const { name, uuid, id } = d.dom;
  const mac = `fa:16:3e:${uuid.slice(0, 2)}:${uuid.slice(2, 4)}:${uuid.slice(4, 6)}`;
  return `<domain type='kvm' id='${id}'>
  <name>${name}</name>
  <uuid>${uuid}</uuid>
  <metadata>
    <nova:instance xmlns:nova="http://openstack.org/xmlns/libvirt/nova/1.1">
      <nova:package version="27.1.0"/>
      <nova:name>${d.displayName}</nova:name>
      <nova:creationTime>2024-05-02 09:${String(id % 60).padStart(2, "0")}:00</nova:creationTime>
      <nova:flavor name="vnf.${d.memoryKiB >> 20}g">
        <nova:memory>${d.memoryKiB >> 10}</nova:memory>
        <nova:disk>20</nova:disk>
        <nova:swap>0</nova:swap>
        <nova:ephemeral>0</nova:ephemeral>
        <nova:vcpus>2</nova:vcpus>
      </nova:flavor>
      <nova:owner>
        <nova:user uuid="2a1f0c4e5b6d4f7a8b9c0d1e2f3a4b5c">nfv-admin</nova:user>
        <nova:project uuid="7c6b5a4d3e2f4a1b9c8d7e6f5a4b3c2d">nfvi</nova:project>
      </nova:owner>
      <nova:root type="image" uuid="0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"/>
    </nova:instance>
  </metadata>
  <memory unit='KiB'>${d.memoryKiB}</memory>
  <currentMemory unit='KiB'>${d.memoryKiB}</currentMemory>
  <vcpu placement='static'>2</vcpu>
  <cputune><shares>2048</shares></cputune>
  <resource><partition>/machine</partition></resource>
  <sysinfo type='smbios'><system><entry name='uuid'>${uuid}</entry></system></sysinfo>
  <os><type arch='x86_64' machine='pc-q35-7.2'>hvm</type><boot dev='hd'/><smbios mode='sysinfo'/></os>
  <features><acpi/><apic/></features>
  <cpu mode='host-model' check='partial'><topology sockets='2' dies='1' cores='1' threads='1'/></cpu>
  <clock offset='utc'><timer name='pit' tickpolicy='delay'/><timer name='rtc' tickpolicy='catchup'/></clock>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2' cache='none'/>
      <source file='${d.diskPath}' index='1'/>
      <backingStore/>
      <target dev='vda' bus='virtio'/>
      <alias name='virtio-disk0'/>
      <address type='pci' domain='0x0000' bus='0x03' slot='0x00' function='0x0'/>
    </disk>
    <controller type='pci' index='0' model='pcie-root'><alias name='pcie.0'/></controller>
    <interface type='ethernet'>
      <mac address='${mac}'/>
      <target dev='${d.nic}' managed='no'/>
      <model type='virtio'/>
      <mtu size='1450'/>
      <alias name='net0'/>
      <address type='pci' domain='0x0000' bus='0x01' slot='0x00' function='0x0'/>
    </interface>
    <serial type='pty'><source path='/dev/pts/${id % 64}'/><target port='0'/><alias name='serial0'/></serial>
    <input type='tablet' bus='usb'><alias name='input0'/></input>
    <graphics type='vnc' port='${5900 + id}' autoport='yes' listen='0.0.0.0'/>
    <video><model type='virtio' heads='1' primary='yes'/><alias name='video0'/></video>
    <memballoon model='virtio'>
      <stats period='10'/>
      <alias name='balloon0'/>
      <address type='pci' domain='0x0000' bus='0x04' slot='0x00' function='0x0'/>
    </memballoon>
    <rng model='virtio'><backend model='random'>/dev/urandom</backend><alias name='rng0'/></rng>
  </devices>
  <seclabel type='dynamic' model='dac' relabel='yes'><label>+64055:+108</label></seclabel>
</domain>
`;
}

/** A typed parameter whose numeric value, when `at` is given, follows the guest's uptime in seconds. */
type ParamSpec = TypedParam & { at?: (uptime: number) => number };

// A counter whose rate swings ±50 % around `rate` per s over `period` s; never decreasing, the same for the same uptime.
const swing = (rate: number, period: number, phase: number) => (u: number) =>
  Math.floor(
    rate *
      (u + (0.5 * period * (Math.sin((2 * Math.PI * u) / period + phase) - Math.sin(phase))) / (2 * Math.PI)),
  );

const num = (field: string, type: "int" | "uint", value: number): ParamSpec => ({ field, type, value });
const u64 = (field: string, at: (u: number) => number): ParamSpec => ({
  field,
  type: "ullong",
  value: 0n,
  at,
});
const u64c = (field: string, value: number): ParamSpec => ({ field, type: "ullong", value: BigInt(value) });

/** The stat groups of one guest in libvirt's order, with the fields and types libvirtd 9.0 sends for a QEMU guest. */
function groupSpecs(d: SimDomain, guestBalloon: boolean, now: () => number): [number, ParamSpec[]][] {
  const t = d.traits;
  const period = 60 + t[0]! * 240;
  const vcpu = [0, 1].map((i) => swing(d.load * 1e9 * (i ? 0.9 : 1.1), period, t[1]! + i));
  const emulator = 0.01e9 + t[2]! * 0.02e9;
  const cpu = (u: number) => vcpu[0]!(u) + vcpu[1]!(u) + Math.floor(emulator * u);
  const kib = d.memoryKiB;
  const gauge = (base: number, wobble: number, p: number) => (u: number) =>
    Math.floor(base * (1 + wobble * Math.sin((2 * Math.PI * u) / p)));
  const available = kib - 90_000;
  const usable = (u: number) => gauge(available * (0.3 + t[3]! * 0.5), 0.05, period * 3)(u);
  const balloon: ParamSpec[] = [u64c("balloon.current", kib), u64c("balloon.maximum", kib)];
  if (guestBalloon)
    balloon.push(
      u64c("balloon.swap_in", 0),
      u64c("balloon.swap_out", 0),
      u64("balloon.major_fault", swing(0.02 + t[4]! * 0.2, period, 0)),
      u64("balloon.minor_fault", swing(50 + t[4]! * 800, period, 1)),
      u64("balloon.unused", (u) => Math.floor(usable(u) * 0.7)),
      u64c("balloon.available", available),
      u64("balloon.usable", usable),
      // Epoch seconds of the guest's last report, every `<stats period='10'/>`.
      u64("balloon.last-update", () => Math.floor(now() / 10_000) * 10),
      u64("balloon.disk_caches", (u) => Math.floor(usable(u) * 0.25)),
      u64c("balloon.hugetlb_pgalloc", 0),
      u64c("balloon.hugetlb_pgfail", 0),
    );
  else balloon.push(u64c("balloon.last-update", 0));
  balloon.push(u64("balloon.rss", gauge(kib * (0.55 + t[5]! * 0.4), 0.01, 600)));
  const net: ParamSpec[] = [
    num("net.count", "uint", 1),
    { field: "net.0.name", type: "string", value: d.nic },
  ];
  for (const [dir, k] of [
    ["rx", 6],
    ["tx", 7],
  ] as const) {
    const bytes = swing(2_000 + t[k]! ** 3 * 2e6, period, k);
    const size = 200 + t[k]! * 1200;
    net.push(
      u64(`net.0.${dir}.bytes`, bytes),
      u64(`net.0.${dir}.pkts`, (u) => Math.floor(bytes(u) / size)),
      u64c(`net.0.${dir}.errs`, 0),
      u64(`net.0.${dir}.drop`, (u) => Math.floor(bytes(u) / size / 1e6)),
    );
  }
  const block: ParamSpec[] = [
    num("block.count", "uint", 1),
    { field: "block.0.name", type: "string", value: "vda" },
    { field: "block.0.path", type: "string", value: d.diskPath },
    num("block.0.backingIndex", "uint", 1),
  ];
  for (const [dir, k, size] of [
    ["rd", 8, 16_384],
    ["wr", 9, 8192],
  ] as const) {
    const reqs = swing(0.2 + t[k]! * 40, period, k);
    const latencyNs = 150_000 + t[k]! * 2e6;
    block.push(
      u64(`block.0.${dir}.reqs`, reqs),
      u64(`block.0.${dir}.bytes`, (u) => reqs(u) * size),
      u64(`block.0.${dir}.times`, (u) => Math.floor(reqs(u) * latencyNs)),
    );
  }
  const flush = swing(0.05 + t[9]! * 4, period, 2);
  const capacity = 20 * 2 ** 30;
  const physical = Math.floor(capacity * (0.1 + t[10]! * 0.5));
  block.push(
    u64("block.0.fl.reqs", flush),
    u64("block.0.fl.times", (u) => flush(u) * 900_000),
    u64c("block.0.allocation", physical - 327_680),
    u64c("block.0.capacity", capacity),
    u64c("block.0.physical", physical),
  );
  return [
    [StatsGroup.state, [num("state.state", "int", 1), num("state.reason", "int", 1)]],
    [
      StatsGroup["cpu-total"],
      [
        u64("cpu.time", cpu),
        u64("cpu.user", (u) => Math.floor((cpu(u) * 0.7) / 1000) * 1000),
        u64("cpu.system", (u) => Math.floor(cpu(u) / 1000) * 1000 - Math.floor((cpu(u) * 0.7) / 1000) * 1000),
        num("cpu.cache.monitor.count", "uint", 0),
        u64c("cpu.haltpoll.success.time", 0),
        u64c("cpu.haltpoll.fail.time", 0),
      ],
    ],
    [StatsGroup.balloon, balloon],
    [
      StatsGroup.vcpu,
      [
        num("vcpu.current", "uint", 2),
        num("vcpu.maximum", "uint", 2),
        ...[0, 1].flatMap((i) => [
          num(`vcpu.${i}.state`, "int", 1),
          u64(`vcpu.${i}.time`, vcpu[i]!),
          u64c(`vcpu.${i}.wait`, 0),
          u64(`vcpu.${i}.delay`, (u) => Math.floor(vcpu[i]!(u) * (0.005 + t[11]! * 0.03))),
        ]),
      ],
    ],
    [StatsGroup.interface, net],
    [StatsGroup.block, block],
    [
      StatsGroup.dirtyrate,
      [
        num("dirtyrate.calc_status", "int", 0),
        { field: "dirtyrate.calc_start_time", type: "llong", value: 0n },
        num("dirtyrate.calc_period", "int", 0),
        { field: "dirtyrate.calc_mode", type: "string", value: "page-sampling" },
      ],
    ],
  ];
}

/** The groups the QEMU driver answers when asked for stats 0 ("all"); perf, iothread and memory add nothing here. */
const ALL_GROUPS =
  StatsGroup.state |
  StatsGroup["cpu-total"] |
  StatsGroup.balloon |
  StatsGroup.vcpu |
  StatsGroup.interface |
  StatsGroup.block |
  StatsGroup.dirtyrate;

/** One domain's stats record, encoded once; each call copies it and writes the moving counters in place. */
interface Template {
  bytes: Buffer;
  patches: { offset: number; type: TypedParam["type"]; at: (u: number) => number }[];
}

function buildTemplate(d: SimDomain, specs: [number, ParamSpec[]][], mask: number): Template {
  const params = specs.filter(([bit]) => mask & bit).flatMap(([, p]) => p);
  const w = new XdrWriter(16_384);
  writeDomain(w, d.dom);
  w.uint(params.length);
  const patches: Template["patches"] = [];
  for (const { at, ...p } of params) {
    writeTypedParam(w, p as TypedParam);
    const width = p.type === "ullong" ? 8 : 4;
    if (at) patches.push({ offset: w.length - width, type: p.type, at });
  }
  return { bytes: Buffer.from(w.bytes()), patches };
}

function patch(buf: Buffer, base: number, t: Template, uptime: number): void {
  for (const p of t.patches) {
    const v = p.at(uptime);
    if (p.type === "ullong") {
      buf.writeUInt32BE(Math.floor(v / 2 ** 32), base + p.offset);
      buf.writeUInt32BE(v >>> 0, base + p.offset + 4);
    } else if (p.type === "int") buf.writeInt32BE(v, base + p.offset);
    else buf.writeUInt32BE(v >>> 0, base + p.offset);
  }
}

class CallError extends Error {
  readonly code: number;
  readonly domain: number;
  constructor(code: number, domain: number, message: string) {
    super(message);
    this.code = code;
    this.domain = domain;
  }
}
// XdrWriter's numeric writes throw when they are the ones that make it grow (the old buffer is read before
// #reserve replaces it), so every writer here starts large enough for what it will hold.
function encode(capacity: number, write: (w: XdrWriter) => void): Buffer {
  const w = new XdrWriter(capacity);
  write(w);
  return Buffer.from(w.bytes());
}

/** Procedures libvirtd answers before CONNECT_OPEN (the handshake). */
const BEFORE_OPEN: ReadonlySet<number> = new Set([
  Proc.AUTH_LIST,
  Proc.CONNECT_SUPPORTS_FEATURE,
  Proc.CONNECT_OPEN,
]);

// virErrorNumber / virErrorDomain values libvirt uses for these answers.
const noDomain = (dom: Domain) =>
  new CallError(42, 10, `Domain not found: no domain with matching uuid '${dom.uuid}' (${dom.name})`);

/** A libvirt daemon over a UNIX socket holding N simulated running guests. */
export class LibvirtSim {
  readonly domains: readonly SimDomain[];
  readonly #byUuid = new Map<string, number>();
  readonly #now: () => number;
  readonly #start: number;
  readonly #guestBalloon: boolean;
  readonly #keepalive: { interval: number; count: number };
  readonly #specs: [number, ParamSpec[]][][];
  readonly #templates = new Map<number, Template[]>();
  readonly #sockets = new Set<Socket>();
  #server: Server | undefined;
  #path = "";
  #callbackId = 0;

  constructor(opts: LibvirtSimOptions) {
    this.#now = opts.now ?? Date.now;
    this.#start = this.#now();
    this.#guestBalloon = opts.guestBalloon ?? true;
    this.#keepalive = opts.keepalive ?? { interval: 5000, count: 5 };
    this.domains = Array.from({ length: opts.domains }, (_, i) => simDomain((opts.firstDomain ?? 0) + i));
    for (const [i, d] of this.domains.entries()) this.#byUuid.set(d.dom.uuid, i);
    this.#specs = this.domains.map((d) => groupSpecs(d, this.#guestBalloon, this.#now));
  }

  /** Listens on `path` (a stale socket file there is replaced). */
  async listen(path: string): Promise<void> {
    await rm(path, { force: true });
    const server = createServer((s) => this.#serve(s));
    server.listen(path);
    await once(server, "listening");
    this.#server = server;
    this.#path = path;
  }

  /** Closes every connection and the socket, and removes the socket file. */
  async close(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    for (const s of this.#sockets) s.destroy();
    if (server) await new Promise<void>((r) => server.close(() => r()));
    if (this.#path) await rm(this.#path, { force: true });
  }

  #serve(socket: Socket): void {
    this.#sockets.add(socket);
    const splitter = new PacketSplitter();
    let open = false;
    let keepalive = false;
    let lastInbound = Date.now();
    let unanswered = 0;
    const send = (h: Header, body?: Uint8Array) => {
      if (!socket.destroyed) socket.write(encodePacket(h, body));
    };
    const timer = setInterval(() => {
      if (!keepalive || Date.now() - lastInbound < this.#keepalive.interval) return;
      if (unanswered >= this.#keepalive.count) socket.destroy();
      else {
        unanswered++;
        const ping = { prog: KEEPALIVE_PROGRAM, vers: PROTOCOL_VERSION, proc: KeepaliveProc.PING };
        send({ ...ping, type: MessageType.MESSAGE, serial: 0, status: MessageStatus.OK });
      }
    }, this.#keepalive.interval);
    timer.unref();
    socket.on("close", () => {
      clearInterval(timer);
      this.#sockets.delete(socket);
    });
    socket.on("error", () => socket.destroy());
    socket.on("data", (chunk: Buffer) => {
      lastInbound = Date.now();
      unanswered = 0;
      let packets: Buffer[];
      try {
        packets = splitter.push(chunk);
      } catch {
        socket.destroy();
        return;
      }
      for (const packet of packets) {
        const h = decodeHeader(packet);
        if (h.prog === KEEPALIVE_PROGRAM) {
          if (h.proc === KeepaliveProc.PING) send({ ...h, proc: KeepaliveProc.PONG });
          continue;
        }
        if (h.prog !== REMOTE_PROGRAM || h.type !== MessageType.CALL) continue;
        const reply = { ...h, type: MessageType.REPLY };
        try {
          const args = new XdrReader(packet, HEADER_SIZE);
          if (!open && !BEFORE_OPEN.has(h.proc))
            throw new CallError(1, 7, "internal error: connection not open");
          if (h.proc === Proc.CONNECT_OPEN) open = true;
          // As libvirtd, start pinging a client once it says it understands keepalive.
          if (h.proc === Proc.CONNECT_SUPPORTS_FEATURE)
            keepalive ||= packet.readInt32BE(HEADER_SIZE) === FEATURE_PROGRAM_KEEPALIVE;
          send(reply, this.#dispatch(h.proc, args));
          if (h.proc === Proc.CONNECT_CLOSE) open = false;
        } catch (err) {
          const e = err instanceof CallError ? err : new CallError(1, 7, (err as Error).message);
          const body = encode(256 + Buffer.byteLength(e.message), (w) =>
            writeRemoteError(w, {
              code: e.code,
              domain: e.domain,
              message: e.message,
              level: 2,
              dom: null,
              str1: null,
              str2: null,
              str3: null,
              int1: -1,
              int2: -1,
              net: null,
            }),
          );
          send({ ...reply, status: MessageStatus.ERROR }, body);
        }
      }
    });
  }

  #dispatch(proc: number, args: XdrReader): Buffer | undefined {
    switch (proc) {
      case Proc.AUTH_LIST:
        return encode(64, (w) => w.array([0], (x, v) => x.int(v)));
      case Proc.CONNECT_SUPPORTS_FEATURE:
        return encode(64, (w) => w.int(args.int() === FEATURE_PROGRAM_KEEPALIVE ? 1 : 0));
      case Proc.CONNECT_OPEN:
      case Proc.CONNECT_CLOSE:
      case Proc.CONNECT_DOMAIN_EVENT_CALLBACK_DEREGISTER_ANY:
        return undefined;
      case Proc.CONNECT_GET_LIB_VERSION:
        return encode(64, (w) => w.uhyper(SIM_LIBVIRT_VERSION));
      case Proc.CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY:
        return encode(64, (w) => w.int(++this.#callbackId));
      case Proc.CONNECT_LIST_ALL_DOMAINS: {
        const needResults = args.int();
        const flags = args.uint();
        // Every simulated guest is running: asking for inactive ones only gives none.
        const doms = flags & ListFlags.ACTIVE || !(flags & ListFlags.INACTIVE) ? this.domains : [];
        return encode(64 + 64 * doms.length, (w) => {
          w.array(needResults ? doms.map((d) => d.dom) : [], writeDomain);
          w.uint(doms.length);
        });
      }
      case Proc.DOMAIN_GET_XML_DESC: {
        const dom = readDomain(args);
        const i = this.#byUuid.get(dom.uuid);
        if (i === undefined) throw noDomain(dom);
        const xml = domainXml(this.domains[i]!);
        return encode(8 + Buffer.byteLength(xml), (w) => w.string(xml));
      }
      case Proc.CONNECT_GET_ALL_DOMAIN_STATS:
        return this.#allDomainStats(args);
      default:
        throw new CallError(
          3,
          7,
          `this function is not supported by the connection driver: unknown procedure: ${proc}`,
        );
    }
  }

  /** Bytes of the CONNECT_GET_ALL_DOMAIN_STATS reply packet for every domain and this `stats` mask. */
  statsReplyBytes(stats: number): number {
    return this.#templatesFor(stats).reduce((n, t) => n + t.bytes.length, HEADER_SIZE + 4);
  }

  #templatesFor(stats: number): Template[] {
    const mask = stats === 0 ? ALL_GROUPS : stats & ALL_GROUPS;
    let templates = this.#templates.get(mask);
    if (!templates) {
      templates = this.domains.map((d, i) => buildTemplate(d, this.#specs[i]!, mask));
      this.#templates.set(mask, templates);
    }
    return templates;
  }

  #allDomainStats(args: XdrReader): Buffer {
    const asked = args.array(readDomain, REMOTE_DOMAIN_LIST_MAX);
    const templates = this.#templatesFor(args.uint());
    const indexes = asked.length
      ? asked.map((dom) => {
          const i = this.#byUuid.get(dom.uuid);
          if (i === undefined) throw noDomain(dom);
          return i;
        })
      : this.domains.map((_, i) => i);
    let size = 4;
    for (const i of indexes) size += templates[i]!.bytes.length;
    const out = Buffer.allocUnsafe(size);
    out.writeUInt32BE(indexes.length, 0);
    const elapsed = (this.#now() - this.#start) / 1000;
    let at = 4;
    for (const i of indexes) {
      const t = templates[i]!;
      t.bytes.copy(out, at);
      patch(out, at, t, this.domains[i]!.uptimeAtStart + elapsed);
      at += t.bytes.length;
    }
    return out;
  }
}

/** A simulator running as its own process, so its CPU is not the caller's. */
export interface SimulatorProcess {
  pid: number;
  socket: string;
  /** SIGTERM (SIGKILL after 5 s); resolves once it has exited. */
  stop(): Promise<void>;
  /** Has the simulator SIGKILL process `pid` too if this process dies without stopping the simulator. */
  watch(pid: number): void;
}

/**
 * Starts `node bench/libvirt-sim.ts` and resolves once it prints its ready line. The child exits on its own
 * when this process goes away (its stdin closes), taking the processes it `watch`es with it, so a benchmark
 * killed outright leaves neither the simulator nor the agent it measured behind.
 */
export async function startSimulator(opts: {
  socket: string;
  domains: number;
  guestBalloon?: boolean;
  /** File for the simulator's stderr. */
  logFile?: string;
}): Promise<SimulatorProcess> {
  const args = [fileURLToPath(import.meta.url), "--socket", opts.socket, "--domains", String(opts.domains)];
  if (opts.guestBalloon === false) args.push("--no-guest-balloon");
  args.push("--stdin-lifeline");
  const child: ChildProcess = spawn(process.execPath, args, { stdio: ["pipe", "pipe", "pipe"] });
  if (opts.logFile) child.stderr?.pipe(createWriteStream(opts.logFile));
  else child.stderr?.resume();
  const stop = () => terminate(child, 5000);
  const lines = createInterface({ input: child.stdout! });
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("libvirt-sim printed no ready line in 30 s")), 30_000);
      lines.on("line", (l) => {
        if (l.startsWith("libvirt-sim: ready")) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once("exit", (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`libvirt-sim exited before it was ready (${signal ?? code})`));
      });
    });
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    pid: child.pid!,
    socket: opts.socket,
    stop,
    watch: (pid) => void child.stdin?.write(`watch ${pid}\n`),
  };
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      socket: { type: "string" },
      domains: { type: "string", default: "10" },
      "no-guest-balloon": { type: "boolean" },
      "stdin-lifeline": { type: "boolean" },
    },
  });
  const n = Number(values.domains);
  if (!values.socket || !Number.isInteger(n) || n < 0 || n > REMOTE_DOMAIN_LIST_MAX) {
    process.stderr.write("usage: node bench/libvirt-sim.ts --socket PATH --domains N [--no-guest-balloon]\n");
    process.exit(2);
  }
  const sim = new LibvirtSim({ domains: n, guestBalloon: !values["no-guest-balloon"] });
  await sim.listen(values.socket);
  const stop = () => void sim.close().finally(() => process.exit(0));
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
  if (values["stdin-lifeline"]) {
    const watched = new Set<number>();
    createInterface({ input: process.stdin })
      .on("line", (l) => {
        const pid = /^watch (\d+)$/.exec(l)?.[1];
        if (pid) watched.add(Number(pid));
      })
      .on("close", () => {
        for (const pid of watched)
          try {
            process.kill(pid, "SIGKILL");
          } catch {
            // Already gone.
          }
        stop();
      });
  }
  process.stdout.write(
    `libvirt-sim: ready, ${n} simulated domains on ${values.socket} (libvirt 9.0.0 protocol)\n`,
  );
}
