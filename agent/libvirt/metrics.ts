import { Counter, Gauge, type Registry } from "../prom-client.ts";
import { type LibvirtHealthRegistry, libvirtHealth } from "./health.ts";

/**
 * The libvirt connections' health on `registry`, read from `health` at scrape time:
 * - `vesmon_libvirt_up{socket}`: 1 while every client of the socket is connected, 0 while one is not (or the
 *   last one gave up at its first attempt); absent when no client uses the socket.
 * - `vesmon_libvirt_reconnects_total{socket}`: connections re-established after one was lost.
 * - `vesmon_libvirt_last_error_info{socket,reason}`: 1 for the reason of the last error (one series per socket;
 *   `reason` is one of ConnectionErrorReason, so the label stays bounded).
 * - `vesmon_libvirt_last_error_timestamp_seconds{socket}`: when that error happened.
 */
export function registerLibvirtMetrics(
  registry: Registry,
  health: LibvirtHealthRegistry = libvirtHealth,
): void {
  new Gauge({
    name: "vesmon_libvirt_up",
    help: "1 while the agent's libvirt connection on this socket is up (handshake done), 0 while it is not.",
    labelNames: ["socket"],
    registers: [registry],
    collect() {
      this.reset();
      for (const s of health.snapshot()) if (s.up !== undefined) this.set({ socket: s.socket }, s.up ? 1 : 0);
    },
  });
  new Counter({
    name: "vesmon_libvirt_reconnects_total",
    help: "libvirt connections re-established after one was lost.",
    labelNames: ["socket"],
    registers: [registry],
    collect() {
      this.reset();
      for (const s of health.snapshot()) this.inc({ socket: s.socket }, s.reconnects);
    },
  });
  new Gauge({
    name: "vesmon_libvirt_last_error_info",
    help: "1 for the reason of the last libvirt connection error: unreachable, refused, closed, protocol, stalled, keepalive, handshake or client.",
    labelNames: ["socket", "reason"],
    registers: [registry],
    collect() {
      this.reset();
      for (const s of health.snapshot())
        if (s.lastError) this.set({ socket: s.socket, reason: s.lastError.reason }, 1);
    },
  });
  new Gauge({
    name: "vesmon_libvirt_last_error_timestamp_seconds",
    help: "When the last libvirt connection error happened, seconds since the epoch.",
    labelNames: ["socket"],
    registers: [registry],
    collect() {
      this.reset();
      for (const s of health.snapshot())
        if (s.lastError) this.set({ socket: s.socket }, s.lastError.time / 1000);
    },
  });
}
