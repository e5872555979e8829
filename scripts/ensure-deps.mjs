// Installs dependencies from the lockfile when they are missing, so `npm start` and
// `npm test` work on a fresh checkout with nothing but Node.js and npm.
import { execSync } from "node:child_process";
import { existsSync, statSync } from "node:fs";

const marker = "node_modules/.package-lock.json";
const stale =
  !existsSync("node_modules/.bin/bun") ||
  !existsSync(marker) ||
  statSync("package-lock.json").mtimeMs > statSync(marker).mtimeMs;
if (stale) {
  console.error("installing dependencies from package-lock.json ...");
  execSync("npm ci --no-audit --no-fund --loglevel=error", { stdio: "inherit" });
}
