#!/usr/bin/env node
import { readFile } from "node:fs/promises";
import { pino } from "pino";
import { validateVesEvent } from "../ves/schema.ts";
import { checkEnvelope } from "./envelope.ts";
import { printLine } from "./print.ts";
import { ListenerProcess } from "./process.ts";
import { parseSettings, USAGE } from "./settings.ts";
import { schemaValidator } from "./ves-validator.ts";

async function main(): Promise<number> {
  const parsed = parseSettings(process.argv.slice(2), process.env);
  if (parsed.ok === "help") {
    process.stdout.write(USAGE);
    return 0;
  }
  if (!parsed.ok) {
    process.stderr.write(`${parsed.error}\n${USAGE}`);
    return 2;
  }
  const s = parsed.settings;
  const log = pino(
    { name: "vesmon-listener", level: process.env.LISTENER_LOG_LEVEL ?? "info" },
    pino.destination(2),
  );
  const https = s.tls
    ? { cert: await readFile(s.tls.certFile), key: await readFile(s.tls.keyFile) }
    : undefined;

  const listener = new ListenerProcess({
    port: s.port,
    host: s.host,
    auth: s.auth,
    https,
    recordFile: s.recordFile,
    maxEvents: s.maxEvents,
    faults: { latencyMs: s.latencyMs, errorRate: s.errorRate },
    validate: s.envelopeOnly
      ? checkEnvelope
      : schemaValidator((event, version) => validateVesEvent(event, version, { closed: s.strict })),
    logger: log,
    // stdout carries the URL, then one line per accepted event; logs go to stderr.
    onAccepted: (records) => {
      for (const r of records) process.stdout.write(`${printLine(r, s.verbose ? "verbose" : "compact")}\n`);
    },
  });
  const url = await listener.start();
  // The user name is harmless and helps; the password is never logged.
  log.info(
    {
      url,
      user: s.auth?.username,
      record: s.recordFile,
      validation: s.envelopeOnly ? "envelope" : s.strict ? "strict schema" : "schema",
    },
    "listening",
  );
  process.stdout.write(`${url}\n`);

  const signal = await new Promise<string>((resolve) => {
    process.once("SIGTERM", () => resolve("SIGTERM"));
    process.once("SIGINT", () => resolve("SIGINT"));
  });
  log.info({ signal }, "stopping");
  await listener.close();
  return 0;
}

process.exitCode = await main();
