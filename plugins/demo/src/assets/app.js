// The demo page of Latchkey: passkey registration and login with the browser's own
// WebAuthn JSON helpers, and a check of the token's RS256 signature against the JWKS.
"use strict";

/** The token of the current session, kept in memory only. */
let sessionToken = null;

const element = (id) => document.getElementById(id);

function showStatus(text, isError = false) {
  const status = element("status");
  status.textContent = text;
  status.classList.toggle("error", isError);
}

/** Sends a request to the API and returns its JSON body, or throws with its error. */
async function callApi(path, init = {}) {
  const response = await fetch(path, { credentials: "same-origin", ...init });
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (!response.ok) {
    const reason = body && body.error ? body.error : `HTTP ${response.status}`;
    throw new Error(reason);
  }
  return body;
}

function postJson(path, value) {
  return callApi(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(value),
  });
}

function decodeBase64Url(text) {
  const base64 = text.replace(/-/g, "+").replace(/_/g, "/");
  const padded = base64 + "=".repeat((4 - (base64.length % 4)) % 4);
  return Uint8Array.from(atob(padded), (char) => char.charCodeAt(0));
}

function decodeJsonPart(part) {
  return JSON.parse(new TextDecoder().decode(decodeBase64Url(part)));
}

/**
 * Verifies the token's signature with the JWKS key its header names, and returns that
 * key's ID, the key and the claims.
 */
async function verifyToken(token) {
  const parts = token.split(".");
  if (parts.length !== 3) {
    throw new Error("the token is not a JWS in compact form");
  }
  const [encodedHeader, encodedClaims, encodedSignature] = parts;
  const header = decodeJsonPart(encodedHeader);
  if (header.alg !== "RS256") {
    throw new Error(`the token is signed with ${header.alg}, not RS256`);
  }
  const jwks = await callApi("/.well-known/jwks.json");
  const jwk = jwks.keys.find((key) => key.kid === header.kid);
  if (!jwk) {
    throw new Error(`the JWKS has no key ${header.kid}`);
  }
  const algorithm = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };
  const key = await crypto.subtle.importKey(
    "jwk",
    { kty: jwk.kty, n: jwk.n, e: jwk.e, alg: "RS256", ext: true },
    algorithm,
    false,
    ["verify"],
  );
  const signed = new TextEncoder().encode(`${encodedHeader}.${encodedClaims}`);
  const valid = await crypto.subtle.verify(
    algorithm,
    key,
    decodeBase64Url(encodedSignature),
    signed,
  );
  if (!valid) {
    throw new Error(`the token signature does not verify with key ${header.kid}`);
  }
  return { kid: header.kid, jwk, claims: decodeJsonPart(encodedClaims) };
}

async function showSession(answer) {
  const verified = await verifyToken(answer.token);
  sessionToken = answer.token;
  element("user-id").textContent = answer.userID;
  element("signature").textContent = "valid (RS256, checked in this page)";
  element("kid").textContent = verified.kid;
  element("claims").textContent = JSON.stringify(verified.claims, null, 2);
  element("jwk").textContent = JSON.stringify(verified.jwk, null, 2);
  element("session").hidden = false;
  element("logout").disabled = false;
  showStatus(`Logged in as ${answer.userID}.`);
}

function clearSession() {
  sessionToken = null;
  element("session").hidden = true;
  element("logout").disabled = true;
  for (const id of ["user-id", "signature", "kid", "claims", "jwk"]) {
    element(id).textContent = "";
  }
}

async function register(event) {
  event.preventDefault();
  const displayName = element("display-name").value.trim();
  showStatus("Creating a passkey…");
  const query = new URLSearchParams({ displayName });
  const options = await callApi(`/api/auth/challenge/register?${query}`);
  const publicKey = PublicKeyCredential.parseCreationOptionsFromJSON(options);
  const credential = await navigator.credentials.create({ publicKey });
  const answer = await postJson("/api/auth/register-passkey", {
    attestationResponse: credential.toJSON(),
  });
  await showSession(answer);
}

async function logIn() {
  showStatus("Waiting for a passkey…");
  const options = await callApi("/api/auth/challenge/login");
  const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(options);
  const credential = await navigator.credentials.get({ publicKey });
  const answer = await postJson("/api/auth/login-passkey", {
    authenticationResponse: credential.toJSON(),
  });
  await showSession(answer);
}

async function logOut() {
  const token = sessionToken;
  clearSession();
  showStatus("Logged out.");
  if (!token) {
    return;
  }
  // The server revokes the token where the logout route exists. A 404 means this
  // server has none, and the token stays valid until it expires.
  const response = await fetch("/api/auth/logout", {
    method: "POST",
    headers: { Authorization: `Bearer ${token}` },
  });
  if (response.status === 404) {
    showStatus("Logged out here; this server cannot revoke tokens.");
  } else if (!response.ok) {
    showStatus(`Logged out here, but the server answered HTTP ${response.status}.`, true);
  }
}

/** Runs `action`, and shows its error instead of leaving it in the console. */
function guarded(action) {
  return (event) => {
    action(event).catch((error) => showStatus(error.message, true));
  };
}

function start() {
  if (!window.PublicKeyCredential || !PublicKeyCredential.parseCreationOptionsFromJSON) {
    showStatus("This browser lacks the WebAuthn JSON helpers this page uses.", true);
    return;
  }
  element("register-form").addEventListener("submit", guarded(register));
  element("login").addEventListener("click", guarded(logIn));
  element("logout").addEventListener("click", guarded(logOut));
}

start();
