import { closeSync, openSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { basename, dirname } from "node:path";

/**
 * The longest path a UNIX socket address holds (sun_path is 108 bytes with its NUL). Node does not refuse a
 * longer one: it cuts it, and connects to some other path.
 */
export const SUN_PATH_MAX = 107;

/**
 * Connects to a UNIX socket at any path length. A kubelet path to a virt-launcher's socket
 * (`/var/lib/kubelet/pods/<uid>/volumes/kubernetes.io~empty-dir/libvirt-runtime/virtqemud-sock-ro`, 124 bytes,
 * more under a host root) is too long for sun_path; then the socket's directory is opened and the socket reached
 * as `/proc/self/fd/<fd>/<name>`, and the descriptor is closed once the connection is made or failed.
 */
export function dialUnix(socketPath: string): Socket {
  if (Buffer.byteLength(socketPath) <= SUN_PATH_MAX) return connect(socketPath);
  let fd: number;
  try {
    fd = openSync(dirname(socketPath), "r");
  } catch (err) {
    // The directory is gone (the pod was deleted): fail as a connect to an absent socket does, asynchronously.
    const s = connect({ path: "\0vesmon-absent" });
    s.destroy(err as Error);
    return s;
  }
  const s = connect(`/proc/self/fd/${fd}/${basename(socketPath)}`);
  let open = true;
  const release = () => {
    if (!open) return;
    open = false;
    closeSync(fd);
  };
  s.once("connect", release);
  s.once("close", release);
  return s;
}
