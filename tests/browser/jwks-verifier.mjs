// Verifies tokens the way a relying party does with jose: from a remote JWKS cached for
// its max-age, refetched on an unknown kid only after a ten-minute cooldown, so a token
// signed with a key missing from the cached set fails here as it would at Privy.
//
// Usage: node jwks-verifier.mjs <JWKS URL> <max-age in seconds>
// Reads one token per line on stdin and writes one JSON line per token on stdout:
// {"ok": true, "kid": "..."} or {"ok": false, "error": "..."}.

import readline from "node:readline";
import { createRemoteJWKSet, jwtVerify } from "jose";

const [url, maxAgeSeconds] = process.argv.slice(2);
const jwks = createRemoteJWKSet(new URL(url), {
  cacheMaxAge: Number(maxAgeSeconds) * 1000,
  cooldownDuration: 10 * 60 * 1000,
});

const lines = readline.createInterface({ input: process.stdin });
for await (const line of lines) {
  const token = line.trim();
  if (!token) {
    continue;
  }
  try {
    const { protectedHeader } = await jwtVerify(token, jwks, { algorithms: ["RS256", "ES256"] });
    console.log(JSON.stringify({ ok: true, kid: protectedHeader.kid }));
  } catch (error) {
    console.log(JSON.stringify({ ok: false, error: `${error.code ?? "error"}: ${error.message}` }));
  }
}
