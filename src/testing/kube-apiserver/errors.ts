// Failures as the Kubernetes API server reports them: an HTTP status and a `Status` object whose reason
// and message read as the real server's do (clients such as kubectl print the message and branch on the
// reason and code).

export interface StatusCause { reason: string; message: string; field?: string }
export interface StatusDetails { name?: string; group?: string; kind?: string; uid?: string; causes?: StatusCause[]; retryAfterSeconds?: number }

export class KubeError extends Error {
  constructor(readonly code: number, readonly reason: string, message: string, readonly details?: StatusDetails) {
    super(message);
  }
  toStatus(): Record<string, unknown> {
    return {
      kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: this.message, reason: this.reason,
      ...(this.details ? { details: this.details } : {}), code: this.code,
    };
  }
}

/** What a resource is called in messages: `pods`, `networkpolicies.networking.k8s.io`. */
export interface Named { resource: string; group: string; kind: string }
const qualified = (r: Named) => (r.group ? `${r.resource}.${r.group}` : r.resource);
const detail = (r: Named, name: string): StatusDetails => ({ name, ...(r.group ? { group: r.group } : {}), kind: r.resource });

export const notFound = (r: Named, name: string) => new KubeError(404, 'NotFound', `${qualified(r)} "${name}" not found`, detail(r, name));
export const alreadyExists = (r: Named, name: string) => new KubeError(409, 'AlreadyExists', `${qualified(r)} "${name}" already exists`, detail(r, name));
export const conflict = (r: Named, name: string, why = 'the object has been modified; please apply your changes to the latest version and try again') =>
  new KubeError(409, 'Conflict', `Operation cannot be fulfilled on ${qualified(r)} "${name}": ${why}`, detail(r, name));
export const badRequest = (message: string) => new KubeError(400, 'BadRequest', message);
export const gone = (message: string) => new KubeError(410, 'Expired', message);
export const methodNotAllowed = (message: string) => new KubeError(405, 'MethodNotAllowed', message);
export const unsupportedMediaType = (message: string) => new KubeError(415, 'UnsupportedMediaType', message);
export const forbidden = (message: string) => new KubeError(403, 'Forbidden', message);
export const unauthorized = () => new KubeError(401, 'Unauthorized', 'Unauthorized');
export const pathNotFound = () => new KubeError(404, 'NotFound', 'the server could not find the requested resource');

/** 422 Invalid with one cause per field, worded like the API server's field errors. */
export function invalidObject(r: Named, name: string, causes: StatusCause[]): KubeError {
  const list = causes.map((c) => `${c.field ? `${c.field}: ` : ''}${c.message}`);
  const text = list.length === 1 ? list[0] : `[${list.join(', ')}]`;
  return new KubeError(422, 'Invalid', `${r.kind}${r.group ? `.${r.group}` : ''} "${name}" is invalid: ${text}`, { ...detail(r, name), kind: r.kind, causes });
}

export const required = (field: string): StatusCause => ({ reason: 'FieldValueRequired', message: 'Required value', field });
export const invalidValue = (field: string, value: unknown, why: string): StatusCause =>
  ({ reason: 'FieldValueInvalid', message: `Invalid value: ${JSON.stringify(value)}: ${why}`, field });
export const forbiddenField = (field: string, why: string): StatusCause => ({ reason: 'FieldValueForbidden', message: `Forbidden: ${why}`, field });
export const unsupportedValue = (field: string, value: unknown, allowed: string[]): StatusCause =>
  ({ reason: 'FieldValueNotSupported', message: `Unsupported value: ${JSON.stringify(value)}: supported values: ${allowed.map((a) => `"${a}"`).join(', ')}`, field });
export const typeInvalid = (field: string, value: unknown, want: string): StatusCause =>
  ({ reason: 'FieldValueTypeInvalid', message: `Invalid value: ${JSON.stringify(value)}: ${field.split('.').pop()} in body must be of type ${want}`, field });
