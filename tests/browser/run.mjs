// Drives headless Chromium for tests/tests/browser.rs: a person's path through the demo
// page with a virtual authenticator, then API calls from pages of other origins. The
// test passes one JSON argument (URLs and the screenshot folder), and this script prints
// one JSON line of what it saw. It asserts nothing itself: the Rust test does.
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { chromium } from "playwright-core";

const settings = JSON.parse(process.argv[2]);
const STEP_TIMEOUT_MS = 20_000;

const CHROMIUM_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  // Without this, Chromium blocks requests from one loopback origin to another.
  "--disable-features=LocalNetworkAccessChecks",
];

async function screenshot(page, name, shots) {
  const path = join(settings.screenshotDir, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  shots.push(path);
}

/** Records console errors, uncaught exceptions and CSP violations of `page`. */
function watchProblems(page) {
  const problems = { consoleErrors: [], pageErrors: [], cspViolations: [] };
  page.on("console", (message) => {
    if (message.type() === "error") {
      problems.consoleErrors.push({ text: message.text(), url: message.location().url });
    }
  });
  page.on("pageerror", (error) => problems.pageErrors.push(String(error)));
  return problems;
}

async function readSession(page) {
  await page.locator("#session").waitFor({ state: "visible", timeout: STEP_TIMEOUT_MS });
  return {
    userID: await page.locator("#user-id").textContent(),
    kid: await page.locator("#kid").textContent(),
    signature: await page.locator("#signature").textContent(),
    claims: JSON.parse(await page.locator("#claims").textContent()),
  };
}

async function tokenOf(responsePromise) {
  const response = await responsePromise;
  return { status: response.status(), token: (await response.json()).token };
}

async function demoPath(context, shots) {
  const page = await context.newPage();
  const problems = watchProblems(page);
  // Listens for CSP violations from the first document on. The listener comes in over
  // DevTools, so the page's CSP does not apply to it.
  await page.addInitScript(() => {
    window.cspViolations = [];
    document.addEventListener("securitypolicyviolation", (event) => {
      window.cspViolations.push(`${event.violatedDirective} ${event.blockedURI}`);
    });
  });
  const devtools = await context.newCDPSession(page);
  await devtools.send("WebAuthn.enable");
  await devtools.send("WebAuthn.addVirtualAuthenticator", {
    options: {
      protocol: "ctap2",
      transport: "internal",
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });

  await page.goto(`${settings.apiUrl}/`);
  await screenshot(page, "1-page", shots);

  await page.fill("#display-name", "Ada Lovelace");
  const registered = page.waitForResponse((r) => r.url().endsWith("/api/auth/register-passkey"));
  await page.click("#register");
  const registration = await tokenOf(registered);
  const afterRegister = await readSession(page);
  await screenshot(page, "2-registered", shots);

  const loggedOut = page.waitForResponse((r) => r.url().endsWith("/api/auth/logout"));
  await page.click("#logout");
  const logoutStatus = (await loggedOut).status();
  await page.locator("#session").waitFor({ state: "hidden", timeout: STEP_TIMEOUT_MS });
  const statusAfterLogout = await page.locator("#status").textContent();
  await screenshot(page, "3-logged-out", shots);

  const loggedIn = page.waitForResponse((r) => r.url().endsWith("/api/auth/login-passkey"));
  await page.click("#login");
  const login = await tokenOf(loggedIn);
  const afterLogin = await readSession(page);
  await screenshot(page, "4-logged-in", shots);

  problems.cspViolations = await page.evaluate(() => window.cspViolations);
  await page.close();
  return {
    registration: { ...registration, ...afterRegister },
    logout: { status: logoutStatus, text: statusAfterLogout },
    login: { ...login, ...afterLogin },
    problems,
  };
}

/** Runs `call` in a page of `pageUrl`, shows its outcome there, and returns it. */
async function crossOrigin(context, pageUrl, name, call, shots) {
  const page = await context.newPage();
  await page.goto(pageUrl);
  const outcome = await page.evaluate(call, settings.apiUrl);
  await page.evaluate((text) => {
    document.getElementById("outcome").textContent = text;
  }, `${pageUrl}\n${JSON.stringify(outcome, null, 2)}`);
  await screenshot(page, name, shots);
  await page.close();
  return outcome;
}

async function fetchFromPage(api) {
  try {
    const response = await fetch(`${api}/api/auth/challenge/login`, { credentials: "include" });
    const body = await response.json();
    const posted = await fetch(`${api}/api/auth/register-passkey`, {
      method: "POST",
      credentials: "include",
      headers: { "Content-Type": "application/json" },
      body: "{}",
    });
    return {
      status: response.status,
      hasChallenge: typeof body.challenge === "string",
      postStatus: posted.status,
      postCode: (await posted.json()).code,
    };
  } catch (error) {
    return { blocked: true, error: String(error) };
  }
}

async function fetchWithPrivyHeaders(api) {
  try {
    const response = await fetch(`${api}/api/auth/challenge/login`, {
      credentials: "include",
      headers: { "X-Privy-Token": "privy-token", "X-Privy-Client-ID": "privy-client" },
    });
    return { status: response.status, hasChallenge: typeof (await response.json()).challenge === "string" };
  } catch (error) {
    return { blocked: true, error: String(error) };
  }
}

async function main() {
  mkdirSync(settings.screenshotDir, { recursive: true });
  const profile = mkdtempSync(join(tmpdir(), "latchkey-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: settings.chromium,
    headless: true,
    args: CHROMIUM_FLAGS,
  });
  const shots = [];
  try {
    const demo = await demoPath(context, shots);
    const allowed = await crossOrigin(context, settings.allowedPage, "5-allowed-origin", fetchFromPage, shots);
    const denied = await crossOrigin(context, settings.deniedPage, "6-denied-origin", fetchFromPage, shots);
    const privy = await crossOrigin(context, settings.privyPage, "7-privy-headers", fetchWithPrivyHeaders, shots);
    process.stdout.write(`${JSON.stringify({ demo, allowed, denied, privy, screenshots: shots })}\n`);
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

main().catch((error) => {
  process.stderr.write(`${error.stack ?? error}\n`);
  process.exit(1);
});
