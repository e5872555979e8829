/**
 * Reading operator files (host policy, backend config): YAML or JSON, checked against a
 * TypeBox schema. Failures are `ConfigError`s whose one-line message names the file (as
 * the operator gave it) and the field, never a value from the file.
 */
import { readFileSync } from "node:fs";
import type { TSchema } from "@sinclair/typebox";
import { TypeCompiler } from "@sinclair/typebox/compiler";

export class ConfigError extends Error {
  override name = "ConfigError";
}

export function parseDocument(text: string, label: string): unknown {
  try {
    const trimmed = text.trimStart();
    if (trimmed.startsWith("{") || trimmed.startsWith("[")) return JSON.parse(text);
    return Bun.YAML.parse(text);
  } catch {
    throw new ConfigError(`${label}: not valid YAML or JSON`);
  }
}

export function readDocument(file: string, label: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    throw new ConfigError(`${label}: cannot read file`);
  }
  return parseDocument(text, label);
}

export function checkDocument<S extends TSchema>(schema: S, value: unknown, label: string) {
  const check = TypeCompiler.Compile(schema);
  if (!check.Check(value)) {
    const first = check.Errors(value).First();
    const where = first?.path || "/";
    throw new ConfigError(`${label}: ${where}: ${first?.message ?? "invalid"}`);
  }
  return value;
}
