// One error type for the whole project. Its `kind` decides the HTTP status, the CLI exit code and the
// CNI error code; those mappings live here and nowhere else.

export const ERROR_KINDS = {
  invalid: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  exists: 409,
  conflict: 409,
  no_suitable_group: 409,
  no_network: 409,
  no_available_ip: 409,
  too_large: 413,
  rate_limited: 429,
  unavailable: 503,
  internal: 500,
} as const;

export type ErrorKind = keyof typeof ERROR_KINDS;

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

export const httpStatusOf = (kind: ErrorKind): number => ERROR_KINDS[kind];

// CNI error codes (CNI spec, "Well-known error codes"): 7 invalid network config, 11 try again later,
// 999 the reference plugins' generic code. Transient conditions are 11 so the runtime retries.
const CNI_CODES: Record<ErrorKind, number> = {
  invalid: 7,
  unauthorized: 7,
  forbidden: 7,
  not_found: 7,
  exists: 7,
  conflict: 11,
  no_suitable_group: 7,
  no_network: 7,
  no_available_ip: 11,
  too_large: 7,
  rate_limited: 11,
  unavailable: 11,
  internal: 999,
};

export const cniCodeOf = (kind: ErrorKind): number => CNI_CODES[kind];

export function isErrorKind(s: unknown): s is ErrorKind {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(ERROR_KINDS, s);
}

export const invalid = (message: string) => new RomanaError('invalid', message);
export const notFound = (message: string) => new RomanaError('not_found', message);
export const exists = (message: string) => new RomanaError('exists', message);
export const conflict = (message: string) => new RomanaError('conflict', message);
