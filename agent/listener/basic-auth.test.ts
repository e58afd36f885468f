import { describe, expect, it } from "vitest";
import { basicAuthHeader, checkBasicAuth } from "./basic-auth.ts";

const creds = { username: "ves", password: "p:a:ss" };

describe("checkBasicAuth", () => {
  it("accepts the right credentials, a colon in the password included", () => {
    expect(checkBasicAuth(basicAuthHeader(creds), creds)).toEqual({ ok: true });
    expect(checkBasicAuth(basicAuthHeader(creds).replace("Basic", "basic"), creds)).toEqual({ ok: true });
  });

  it("gives a reason that never repeats what was sent", () => {
    expect(checkBasicAuth(undefined, creds)).toEqual({ ok: false, reason: "Authorization header missing" });
    expect(checkBasicAuth("Bearer abc", creds)).toEqual({ ok: false, reason: "Authorization is not Basic" });
    expect(checkBasicAuth(`Basic ${btoa("nocolon")}`, creds)).toEqual({
      ok: false,
      reason: "malformed Basic credentials",
    });
    expect(checkBasicAuth(basicAuthHeader({ ...creds, password: "p:a:s" }), creds)).toEqual({
      ok: false,
      reason: "invalid credentials",
    });
  });
});
