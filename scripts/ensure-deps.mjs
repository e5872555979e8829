// Installs dependencies from the lockfile when they are missing or older than the
// lockfile, so `npm start` and `npm test` work on a fresh checkout with only Node.js and npm.
import { execSync } from "node:child_process";
import { existsSync, statSync } from "node:fs";

const required = [
  "node_modules/.bin/bun",
  "node_modules/elysia",
  "node_modules/canonicalize",
  "node_modules/typescript",
];
const npmMarker = "node_modules/.package-lock.json";
const missing = required.some((p) => !existsSync(p));
const outdated = existsSync(npmMarker) && statSync("package-lock.json").mtimeMs > statSync(npmMarker).mtimeMs;
if (missing || outdated) {
  console.error("installing dependencies from package-lock.json ...");
  execSync("npm ci --no-audit --no-fund --loglevel=error", { stdio: "inherit" });
}
