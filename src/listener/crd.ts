// The RomanaPolicy custom resource (romanapolicies.romana.io/v1, cluster-scoped: Romana policies name
// tenants themselves). Its spec is a Romana policy without its id, which is the object's name; its
// status says whether romanad accepted it.
import { ROMANA_POLICY_SPEC_SCHEMA } from '../core/policy/romana-schema.js';

export const RP_GROUP = 'romana.io';
export const RP_VERSION = 'v1';
export const RP_PLURAL = 'romanapolicies';
export const RP_KIND = 'RomanaPolicy';
export const RP_API_VERSION = `${RP_GROUP}/${RP_VERSION}`;
/** external_id of the Romana policies the listener made from custom resources (its own, to delete). */
export const RP_EXTERNAL_ID_PREFIX = `${RP_PLURAL}.${RP_GROUP}/`;

const condition = {
  type: 'object',
  required: ['type', 'status'],
  properties: {
    type: { type: 'string' },
    status: { type: 'string', enum: ['True', 'False', 'Unknown'] },
    reason: { type: 'string' },
    message: { type: 'string' },
    lastTransitionTime: { type: 'string', format: 'date-time' },
    observedGeneration: { type: 'integer', minimum: 0 },
  },
};

export function romanaPolicyCrd(): Record<string, unknown> {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${RP_PLURAL}.${RP_GROUP}` },
    spec: {
      group: RP_GROUP,
      scope: 'Cluster',
      names: { plural: RP_PLURAL, singular: 'romanapolicy', kind: RP_KIND, listKind: `${RP_KIND}List`, shortNames: ['rp'], categories: ['romana'] },
      versions: [{
        name: RP_VERSION,
        served: true,
        storage: true,
        subresources: { status: {} },
        additionalPrinterColumns: [
          { name: 'Direction', type: 'string', jsonPath: '.spec.direction' },
          { name: 'Accepted', type: 'string', jsonPath: '.status.conditions[0].status', description: 'Whether romanad accepted the policy' },
          { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
        ],
        schema: {
          openAPIV3Schema: {
            type: 'object',
            description: 'A Romana policy, applied by romana-listener; its name is the policy id.',
            required: ['spec'],
            properties: {
              apiVersion: { type: 'string' },
              kind: { type: 'string' },
              metadata: { type: 'object' },
              spec: ROMANA_POLICY_SPEC_SCHEMA,
              status: { type: 'object', properties: { conditions: { type: 'array', items: condition } } },
            },
          },
        },
      }],
    },
  };
}
