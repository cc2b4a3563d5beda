// Schemas shared by several routes.
import { Type } from '@sinclair/typebox';

export const ErrorBody = Type.Object({ error: Type.String(), message: Type.String() }, { $id: 'Error' });
export const errorResponses = {
  400: ErrorBody, 404: ErrorBody, 409: ErrorBody,
};
export const NameParam = Type.Object({ name: Type.String({ minLength: 1, maxLength: 253 }) });
