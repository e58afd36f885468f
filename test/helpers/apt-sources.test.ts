// The apt mirror lines the image helper hands to mmdebstrap, read from deb822 and one-line sources.
import { describe, expect, it } from "vitest";
import { aptMirrorLines } from "./image.ts";

describe("aptMirrorLines", () => {
  it("expands deb822 stanzas (URIs × Suites) and skips deb-src and comments", () => {
    const text = `Types: deb
# a snapshot, commented out
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main contrib
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://mirror.example/debian
Suites: bookworm
Components: main
`;
    expect(aptMirrorLines([{ name: "debian.sources", text }])).toEqual([
      "deb http://mirror.example/debian bookworm main contrib",
      "deb http://mirror.example/debian bookworm-updates main contrib",
    ]);
  });

  it("reads one-line sources, dropping options and comments", () => {
    const text = `# main
deb [signed-by=/usr/share/keyrings/k.gpg] http://mirror.example/debian bookworm main
deb-src http://mirror.example/debian bookworm main
deb http://security.example/debian-security bookworm-security main # security
`;
    expect(aptMirrorLines([{ name: "sources.list", text }])).toEqual([
      "deb http://mirror.example/debian bookworm main",
      "deb http://security.example/debian-security bookworm-security main",
    ]);
  });
});
