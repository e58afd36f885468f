import { execFile } from "node:child_process";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/** PEM material for TLS tests: a CA, a server certificate for 127.0.0.1 and a client certificate, both signed by it. */
export interface TestPki {
  ca: Buffer;
  serverCert: Buffer;
  serverKey: Buffer;
  clientCert: Buffer;
  clientKey: Buffer;
}

/** Makes a throwaway PKI with openssl; the server certificate is for 127.0.0.1 and `serverIps`. */
export async function makeTestPki(serverIps: readonly string[] = []): Promise<TestPki> {
  const dir = await mkdtemp(join(tmpdir(), "vesmon-pki-"));
  const p = (f: string) => join(dir, f);
  const ssl = (...args: string[]) => run("openssl", args, { cwd: dir });
  await ssl(
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-days",
    "2",
    "-subj",
    "/CN=vesmon test CA",
    "-keyout",
    p("ca.key"),
    "-out",
    p("ca.crt"),
  );
  for (const [name, ext] of [
    [
      "server",
      `subjectAltName=${["127.0.0.1", ...serverIps].map((ip) => `IP:${ip}`).join(",")}\nextendedKeyUsage=serverAuth`,
    ],
    ["client", "extendedKeyUsage=clientAuth"],
  ] as const) {
    await ssl(
      "req",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-subj",
      `/CN=vesmon test ${name}`,
      "-keyout",
      p(`${name}.key`),
      "-out",
      p(`${name}.csr`),
    );
    await writeFile(p(`${name}.ext`), `${ext}\n`);
    await ssl(
      "x509",
      "-req",
      "-in",
      p(`${name}.csr`),
      "-CA",
      p("ca.crt"),
      "-CAkey",
      p("ca.key"),
      "-CAcreateserial",
      "-days",
      "2",
      "-extfile",
      p(`${name}.ext`),
      "-out",
      p(`${name}.crt`),
    );
  }
  const read = (f: string) => readFile(p(f));
  return {
    ca: await read("ca.crt"),
    serverCert: await read("server.crt"),
    serverKey: await read("server.key"),
    clientCert: await read("client.crt"),
    clientKey: await read("client.key"),
  };
}
