/**
 * The browser console, driven by Playwright in Debian's Chromium against the compiled
 * backend: it lists the workspace and its sync state, launches a Worker from the form,
 * and shows nothing the browser API may not (digests, endpoints, paths, tokens).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { type Browser, chromium } from "playwright-core";
import { copyHostPolicy, copyWorkspace, writeTo } from "./backend-harness.ts";
import { cleanup, type Server, spawn, tempDir } from "./harness.ts";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const TOKEN = "console-token-sentinel-9b1d";

let backend: Server;
let browser: Browser;
let workspaceDir: string;
let dataDir: string;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error("Chromium is required for the console test (apt-get install chromium)");
  workspaceDir = copyWorkspace();
  const policy = copyHostPolicy();
  dataDir = tempDir("bundlesync-console-data-");
  const tokenFile = writeTo(tempDir("bundlesync-console-token-"), "api.token", TOKEN);
  backend = await spawn("backend", [
    "--listen",
    "127.0.0.1:0",
    "--data",
    dataDir,
    "--workspace",
    workspaceDir,
    "--host-policy",
    policy,
    "--api-token-file",
    tokenFile,
  ]);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await cleanup();
});

describe("console", () => {
  test("asks for the API token, then lists the workspace synced to the embedded runtime and launches a Worker", async () => {
    const page = await browser.newPage();
    try {
      await page.goto(backend.url);
      // Without the token the API answers 401 and the console asks for it.
      await page.locator("#auth").waitFor({ state: "visible" });
      await page.fill("#token", TOKEN);
      await page.click("#save");

      const row = page.locator("#workspaces tbody tr").first();
      await page.waitForFunction(() => document.querySelector("#workspaces tbody")?.textContent?.includes("synced"));
      const text = (await row.textContent()) ?? "";
      expect(text).toContain("Acme");
      expect(text).toContain("coder");
      expect(text).toContain("Local (embedded): synced r1");

      await page.selectOption("#profile", "reviewer");
      await page.fill("#goal", "Review the release branch");
      await page.click("#go");
      await page.waitForFunction(() => document.querySelector("#msg")?.textContent?.startsWith("Launched"));
      expect(await page.textContent("#msg")).toMatch(/^Launched w-[0-9a-f-]+ on local \(bundle mode\)$/);
      await page.waitForFunction(() => document.querySelector("#workers tbody")?.textContent?.includes("reviewer"));

      const api = await fetch(`${backend.url}/api/v1/workers`, { headers: { authorization: `Bearer ${TOKEN}` } });
      const { workers } = (await api.json()) as { workers: { profile: string; runtimeId: string; mode: string }[] };
      expect(workers).toContainEqual(
        expect.objectContaining({ profile: "reviewer", runtimeId: "local", mode: "bundle" }),
      );

      const html = await page.content();
      for (const hidden of ["sha256:", TOKEN, workspaceDir, dataDir]) expect(html).not.toContain(hidden);
    } finally {
      await page.close();
    }
  }, 60_000);

  test("a launch the runtime refuses shows the typed error code", async () => {
    const page = await browser.newPage();
    try {
      await page.addInitScript((t) => sessionStorage.setItem("token", t), TOKEN);
      await page.goto(backend.url);
      await page.waitForFunction(
        () => (document.querySelector("#profile") as HTMLSelectElement | null)?.options.length,
      );
      // A profile the workspace does not have: the runtime refuses it with invalid_profile.
      await page.evaluate(() => {
        const sel = document.querySelector("#profile") as HTMLSelectElement;
        sel.add(new Option("ghost", "ghost"));
        sel.value = "ghost";
      });
      await page.click("#go");
      await page.waitForFunction(() => document.querySelector("#msg")?.className === "bad");
      expect(await page.textContent("#msg")).toStartWith("invalid_profile:");
    } finally {
      await page.close();
    }
  }, 60_000);
});
