// Several simulated libvirt daemons in one process, as a KubeVirt node has one daemon per virt-launcher pod:
// daemon k listens on `<dir>/d<k>/libvirt-sock-ro` and serves `--domains` guests of its own (distinct UUIDs).
// `node bench/libvirt-sim-fleet.ts --dir DIR --daemons K [--domains 1]`; prints a ready line, stops on SIGTERM
// or when its stdin closes.
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { LibvirtSim } from "./libvirt-sim.ts";

const { values } = parseArgs({
  options: {
    dir: { type: "string" },
    daemons: { type: "string" },
    domains: { type: "string", default: "1" },
  },
});
const k = Number(values.daemons);
const n = Number(values.domains);
if (!values.dir || !Number.isInteger(k) || k < 1 || !Number.isInteger(n) || n < 1) {
  process.stderr.write("usage: node bench/libvirt-sim-fleet.ts --dir DIR --daemons K [--domains N]\n");
  process.exit(2);
}
const sims: LibvirtSim[] = [];
for (let i = 0; i < k; i++) {
  const dir = join(values.dir, `d${i}`);
  await mkdir(dir, { recursive: true });
  const sim = new LibvirtSim({ domains: n, firstDomain: i * n });
  await sim.listen(join(dir, "libvirt-sock-ro"));
  sims.push(sim);
}
const stop = () => void Promise.all(sims.map((s) => s.close())).finally(() => process.exit(0));
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
createInterface({ input: process.stdin }).on("close", stop);
process.stdout.write(`libvirt-sim-fleet: ready, ${k} daemons of ${n} domains under ${values.dir}\n`);
