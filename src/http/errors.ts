/**
 * The one error type of the product. Every failure that reaches a caller carries a `code`
 * from the contract's table; the HTTP layer maps code -> status here and nowhere else.
 * Messages are fixed sentences chosen by code: they are never built from input, so no
 * secret value, path, token or endpoint can leak through an error.
 */

export const ERROR_STATUS = {
  invalid_json: 400,
  invalid_request: 400,
  unauthorized: 401,
  not_found: 404,
  method_not_allowed: 405,
  payload_too_large: 413,
  unsupported_media_type: 415,
  config_bundle_missing: 404,
  config_bundle_digest_mismatch: 409,
  config_bundle_in_use: 409,
  config_bundle_corrupt: 500,
  unsupported_schema_version: 422,
  forbidden_content: 422,
  unsupported_declaration: 422,
  invalid_bundle: 422,
  invalid_profile: 422,
  bundle_required: 422,
  secret_unavailable: 422,
  grant_denied: 403,
  plugin_denied: 403,
  capability_denied: 403,
  worker_not_found: 404,
  worker_conflict: 409,
  store_full: 507,
  internal: 500,
  // backend
  workspace_not_found: 404,
  runtime_conflict: 409,
  runtime_not_found: 404,
  workspace_not_visible: 403,
  runtime_unavailable: 503,
  sync_failed: 502,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

const MESSAGES: Record<ErrorCode, string> = {
  invalid_json: "The request body is not valid JSON.",
  invalid_request: "The request does not match the expected schema.",
  unauthorized: "A valid bearer token is required.",
  not_found: "No such route.",
  method_not_allowed: "This method is not allowed on this route.",
  payload_too_large: "The request body is larger than this server accepts.",
  unsupported_media_type: "The request body must be application/json.",
  config_bundle_missing: "No config bundle with that reference is stored.",
  config_bundle_digest_mismatch: "The config bundle digest does not match its content or the stored digests.",
  config_bundle_in_use: "The config bundle is used by a Worker that is not stopped.",
  config_bundle_corrupt: "The stored config bundle no longer verifies and has been quarantined.",
  unsupported_schema_version: "The bundle schema version is not supported by this runtime.",
  forbidden_content: "The bundle carries forbidden content.",
  unsupported_declaration: "The bundle has a declaration kind this runtime does not know.",
  invalid_bundle: "The bundle references are inconsistent.",
  invalid_profile: "The profile selector cannot be resolved.",
  bundle_required: "A config bundle is required for this Worker.",
  secret_unavailable: "A secret the profile needs is not available on this host.",
  grant_denied: "A grant the profile needs is not allowed by this host.",
  plugin_denied: "A plugin the profile uses is not allowed by this host.",
  capability_denied: "A capability the Worker needs is not allowed by this host.",
  worker_not_found: "No Worker with that id exists.",
  worker_conflict: "A Worker with that id exists with a different request.",
  store_full: "The bundle store is full.",
  internal: "Internal error.",
  workspace_not_found: "No workspace with that id exists.",
  runtime_conflict: "A runtime with that id is already registered.",
  runtime_not_found: "No runtime with that id is registered.",
  workspace_not_visible: "The runtime may not see this workspace.",
  runtime_unavailable: "No runtime is available to serve this request.",
  sync_failed: "The bundle could not be synced to the runtime.",
};

export type ErrorDetails = Record<string, unknown>;

export class BundlesyncError extends Error {
  readonly code: ErrorCode;
  readonly details: ErrorDetails;

  constructor(code: ErrorCode, details: ErrorDetails = {}, message?: string) {
    super(message ?? MESSAGES[code]);
    this.name = "BundlesyncError";
    this.code = code;
    this.details = details;
  }

  get status(): number {
    return ERROR_STATUS[this.code];
  }

  toBody(): ErrorBody {
    return { error: { code: this.code, message: this.message, details: this.details } };
  }
}

export interface ErrorBody {
  error: { code: string; message: string; details: ErrorDetails };
}

export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === "string" && Object.hasOwn(ERROR_STATUS, code);
}

export function messageFor(code: ErrorCode): string {
  return MESSAGES[code];
}
