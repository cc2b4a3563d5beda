// One error type for the whole project. Its `kind` decides the HTTP status, the CLI exit code and the
// CNI error code; those mappings live here and nowhere else.

// CNI error codes (CNI spec, "Well-known error codes"): 7 invalid network config, 11 try again later,
// 999 the reference plugins' generic code. Transient conditions are 11 so the runtime retries.
// CLI exit codes: 0 success, 1 romanad refused or failed, 2 a usage error (unknown flag, missing
// argument, unreadable or malformed file), found before anything was sent.
const KINDS = {
  invalid: { http: 400, cni: 7 },
  /** The CLI's own: a mistake in the command line or a file it reads. romanad never answers it. */
  usage: { http: 400, cni: 7, exit: 2 },
  unauthorized: { http: 401, cni: 7 },
  forbidden: { http: 403, cni: 7 },
  not_found: { http: 404, cni: 7 },
  method_not_allowed: { http: 405, cni: 7 },
  exists: { http: 409, cni: 7 },
  conflict: { http: 409, cni: 11 },
  no_suitable_group: { http: 409, cni: 7 },
  no_network: { http: 409, cni: 7 },
  no_available_ip: { http: 409, cni: 11 },
  too_large: { http: 413, cni: 7 },
  unsupported_media_type: { http: 415, cni: 7 },
  rate_limited: { http: 429, cni: 11 },
  unavailable: { http: 503, cni: 11 },
  internal: { http: 500, cni: 999 },
} as const satisfies Record<string, { http: number; cni: number; exit?: number }>;

export type ErrorKind = keyof typeof KINDS;

/** Kind -> HTTP status. */
export const ERROR_KINDS = Object.fromEntries(Object.entries(KINDS).map(([k, v]) => [k, v.http])) as { [K in ErrorKind]: (typeof KINDS)[K]['http'] };

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

export class RomanaError extends Error {
  readonly kind: ErrorKind;
  constructor(kind: ErrorKind, message: string) {
    super(message);
    this.kind = kind;
    this.name = 'RomanaError';
  }
  toJSON(): { error: ErrorKind; message: string } {
    return { error: this.kind, message: this.message };
  }
}

export const httpStatusOf = (kind: ErrorKind): number => KINDS[kind].http;
export const cniCodeOf = (kind: ErrorKind): number => KINDS[kind].cni;
export const exitCodeOf = (kind: ErrorKind): number => ('exit' in KINDS[kind] ? (KINDS[kind] as { exit: number }).exit : EXIT_FAILED);

export function isErrorKind(s: unknown): s is ErrorKind {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(KINDS, s);
}

export const invalid = (message: string) => new RomanaError('invalid', message);
export const usage = (message: string) => new RomanaError('usage', message);
export const notFound = (message: string) => new RomanaError('not_found', message);
export const exists = (message: string) => new RomanaError('exists', message);
export const conflict = (message: string) => new RomanaError('conflict', message);
