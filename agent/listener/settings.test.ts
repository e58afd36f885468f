import { describe, expect, it } from "vitest";
import { DEFAULT_PORT, parseSettings } from "./settings.ts";

describe("parseSettings", () => {
  it("applies the defaults", () => {
    expect(parseSettings([], {})).toEqual({
      ok: true,
      settings: {
        port: DEFAULT_PORT,
        host: "127.0.0.1",
        auth: undefined,
        recordFile: undefined,
        maxEvents: 10_000,
        tls: undefined,
        latencyMs: 0,
        errorRate: 0,
        envelopeOnly: false,
        strict: false,
        verbose: false,
      },
    });
  });

  it("reads every flag", () => {
    const r = parseSettings(
      [
        "--port=0",
        "--host=::1",
        "--user=u",
        "--password=p",
        "--record=/tmp/e.jsonl",
        "--max-events=5",
        "--tls-cert=c.pem",
        "--tls-key=k.pem",
        "--latency=20",
        "--error-rate=0.5",
        "--envelope-only",
        "--strict",
        "--verbose",
      ],
      {},
    );
    expect(r).toEqual({
      ok: true,
      settings: {
        port: 0,
        host: "::1",
        auth: { username: "u", password: "p" },
        recordFile: "/tmp/e.jsonl",
        maxEvents: 5,
        tls: { certFile: "c.pem", keyFile: "k.pem" },
        latencyMs: 20,
        errorRate: 0.5,
        envelopeOnly: true,
        strict: true,
        verbose: true,
      },
    });
  });

  it("takes the credentials from the environment, flags first", () => {
    const env = { LISTENER_USERNAME: "envuser", LISTENER_PASSWORD: "envpw" };
    expect(parseSettings([], env)).toMatchObject({
      settings: { auth: { username: "envuser", password: "envpw" } },
    });
    expect(parseSettings(["--user", "flag"], env)).toMatchObject({
      settings: { auth: { username: "flag", password: "envpw" } },
    });
  });

  it("says what is wrong", () => {
    expect(parseSettings(["--port=70000"], {})).toEqual({
      ok: false,
      error: "--port must be an integer in [0, 65535]",
    });
    expect(parseSettings(["--error-rate=2"], {})).toEqual({
      ok: false,
      error: "--error-rate must be in [0, 1]",
    });
    expect(parseSettings(["--user=u"], {})).toEqual({
      ok: false,
      error: "give both a user and a password, or neither",
    });
    expect(parseSettings(["--tls-cert=c"], {})).toEqual({
      ok: false,
      error: "--tls-cert and --tls-key go together",
    });
    expect(parseSettings(["--bogus"], {})).toMatchObject({ ok: false });
    expect(parseSettings(["-h"], {})).toEqual({ ok: "help" });
  });
});
