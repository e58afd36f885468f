import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { FAILED_START_REPORTED_FOR, type LibvirtClientHealth, LibvirtHealthRegistry } from "./health.ts";
import { registerLibvirtMetrics } from "./metrics.ts";

/** A client reporting `h`. */
const source = (h: LibvirtClientHealth) => ({ health: () => h });

async function scrape(health: LibvirtHealthRegistry): Promise<string> {
  const r = new Registry();
  registerLibvirtMetrics(r, health);
  return r.metrics();
}

describe("libvirt connection metrics", () => {
  it("report up, reconnects and the last error per socket, with a bounded reason label", async () => {
    const health = new LibvirtHealthRegistry();
    const a = source({ socket: "/run/libvirt/libvirt-sock-ro", up: true, reconnects: 2 });
    const b = source({
      socket: "/run/libvirt/libvirt-sock-ro",
      up: false,
      reconnects: 1,
      lastError: {
        reason: "protocol",
        message: "XDR string of 2473158667 bytes exceeds 4194304",
        time: 1_700_000_000_000,
      },
    });
    health.add(a);
    health.add(b);
    const text = await scrape(health);
    expect(text).toMatch(/^# TYPE vesmon_libvirt_reconnects_total counter$/m);
    expect(text).toMatch(/^vesmon_libvirt_up\{socket="\/run\/libvirt\/libvirt-sock-ro"\} 0$/m);
    expect(text).toMatch(/^vesmon_libvirt_reconnects_total\{socket="\/run\/libvirt\/libvirt-sock-ro"\} 3$/m);
    expect(text).toMatch(
      /^vesmon_libvirt_last_error_info\{socket="\/run\/libvirt\/libvirt-sock-ro",reason="protocol"\} 1$/m,
    );
    expect(text).toMatch(/^vesmon_libvirt_last_error_timestamp_seconds\{socket="[^"]+"\} 1700000000$/m);
    // The message is in the log, never in a label: labels stay bounded.
    expect(text).not.toContain("2473158667");
  });

  it("keep a closed client's reconnects, and drop `up` once no client uses the socket", async () => {
    const health = new LibvirtHealthRegistry();
    const a = source({ socket: "/s", up: true, reconnects: 4 });
    health.add(a);
    health.remove(a);
    const text = await scrape(health);
    expect(text).toMatch(/^vesmon_libvirt_reconnects_total\{socket="\/s"\} 4$/m);
    expect(text).not.toMatch(/^vesmon_libvirt_up\{/m);
  });

  it("report a socket down while its only client gave up at the first attempt, until a new one connects", async () => {
    const health = new LibvirtHealthRegistry(() => 0);
    const failed = source({
      socket: "/s",
      up: false,
      reconnects: 0,
      lastError: { reason: "unreachable", message: "ENOENT", time: 1000 },
    });
    health.add(failed);
    health.remove(failed, true);
    expect(await scrape(health)).toMatch(/^vesmon_libvirt_up\{socket="\/s"\} 0$/m);
    health.add(source({ socket: "/s", up: true, reconnects: 0 }));
    expect(await scrape(health)).toMatch(/^vesmon_libvirt_up\{socket="\/s"\} 1$/m);
  });

  it("stop reporting a failed start once nothing has retried it for FAILED_START_REPORTED_FOR", async () => {
    const clock = { now: 0 };
    const health = new LibvirtHealthRegistry(() => clock.now);
    const failed = source({ socket: "/s", up: false, reconnects: 0 });
    health.add(failed);
    health.remove(failed, true);
    clock.now = FAILED_START_REPORTED_FOR - 1;
    expect(await scrape(health)).toMatch(/^vesmon_libvirt_up\{socket="\/s"\} 0$/m);
    clock.now = FAILED_START_REPORTED_FOR;
    expect(await scrape(health)).not.toMatch(/^vesmon_libvirt_up\{/m);
  });

  it("leave no series behind for a forgotten socket (a KubeVirt pod gone), however many come and go", async () => {
    const health = new LibvirtHealthRegistry();
    for (let i = 0; i < 50; i++) {
      const socket = `/var/lib/kubelet/pods/${i}/volumes/kubernetes.io~empty-dir/libvirt-runtime/virtqemud-sock-ro`;
      const s = source({
        socket,
        up: true,
        reconnects: 1,
        lastError: { reason: "closed", message: "gone", time: 1_700_000_000_000 },
      });
      health.add(s);
      health.remove(s);
      if (i < 49) health.forget(socket);
    }
    const text = await scrape(health);
    expect(text.match(/virtqemud-sock-ro/g)?.length).toBe(3);
    expect(text).toMatch(/pods\/49\//);
  });
});
