/**
 * The parts of the OCSF 1.x schema (schema.ocsf.io, github.com/ocsf/ocsf-schema: base_event.json,
 * events/iam/authentication.json, events/iam/account_change.json, events/application/api.json and
 * the objects they use) that a producer must satisfy: required attributes, the `at_least_one`
 * constraints, and the enum values. Written out by hand for the three classes the broker emits,
 * so the stream's events are checked against the standard rather than against themselves.
 */

type Json = Record<string, unknown>;

const SEVERITY_IDS = [0, 1, 2, 3, 4, 5, 6, 99];
const STATUS_IDS = [0, 1, 2, 99];
const AUTH_PROTOCOL_IDS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 99];

interface ClassDefinition {
  name: string;
  category_uid: number;
  activity_ids: number[];
  required: string[];
  at_least_one?: string[][];
}

export const OCSF_CLASSES: Record<number, ClassDefinition> = {
  3001: {
    name: 'Account Change',
    category_uid: 3,
    activity_ids: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 99],
    required: ['user'],
  },
  3002: {
    name: 'Authentication',
    category_uid: 3,
    activity_ids: [0, 1, 2, 3, 4, 5, 6, 99],
    required: ['user'],
    at_least_one: [['service', 'dst_endpoint']],
  },
  6003: {
    name: 'API Activity',
    category_uid: 6,
    activity_ids: [0, 1, 2, 3, 4, 99],
    required: ['actor', 'api', 'src_endpoint'],
  },
};

/** Required by base_event for every class. */
const BASE_REQUIRED = ['activity_id', 'category_uid', 'class_uid', 'metadata', 'severity_id', 'time', 'type_uid'];

const isObject = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);
const present = (o: Json, k: string) => o[k] !== undefined && o[k] !== null;

/** Each object's own rules (objects/*.json): required attributes and at_least_one constraints. */
function checkObject(kind: string, value: unknown, path: string, out: string[]): void {
  if (!isObject(value)) {
    out.push(`${path}: expected an object`);
    return;
  }
  const atLeastOne = (keys: string[]) => {
    if (!keys.some((k) => present(value, k))) out.push(`${path}: needs at least one of ${keys.join(', ')}`);
  };
  switch (kind) {
    case 'metadata':
      for (const k of ['product', 'version']) if (!present(value, k)) out.push(`${path}.${k}: required`);
      if (present(value, 'product')) checkObject('product', value.product, `${path}.product`, out);
      if (typeof value.version === 'string' && !/^1\.\d+\.\d+/.test(value.version)) {
        out.push(`${path}.version: expected an OCSF 1.x version`);
      }
      break;
    case 'product':
      if (!present(value, 'vendor_name')) out.push(`${path}.vendor_name: required`);
      break;
    case 'user':
      atLeastOne(['account', 'name', 'uid']);
      break;
    case 'actor':
      atLeastOne(['process', 'user', 'invoked_by', 'session', 'app_name', 'app_uid']);
      if (present(value, 'user')) checkObject('user', value.user, `${path}.user`, out);
      break;
    case 'network_endpoint':
      atLeastOne(['ip', 'uid', 'name', 'hostname', 'svc_name', 'instance_uid', 'interface_uid', 'domain']);
      break;
    case 'service':
      atLeastOne(['name', 'uid']);
      break;
    case 'api':
      if (typeof value.operation !== 'string' || value.operation === '') out.push(`${path}.operation: required`);
      break;
  }
}

/** Every violation of the class definition (empty when the event is valid). */
export function ocsfViolations(event: unknown): string[] {
  const out: string[] = [];
  if (!isObject(event)) return ['event: expected an object'];
  for (const k of BASE_REQUIRED) if (!present(event, k)) out.push(`${k}: required`);
  const def = OCSF_CLASSES[event.class_uid as number];
  if (!def) return [...out, `class_uid: ${String(event.class_uid)} is not one of 3001, 3002, 6003`];
  for (const k of def.required) if (!present(event, k)) out.push(`${k}: required by ${def.name}`);
  for (const keys of def.at_least_one ?? []) {
    if (!keys.some((k) => present(event, k))) out.push(`${def.name} needs at least one of ${keys.join(', ')}`);
  }
  if (event.category_uid !== def.category_uid) out.push(`category_uid: expected ${def.category_uid}`);
  if (!def.activity_ids.includes(event.activity_id as number)) {
    out.push(`activity_id: ${String(event.activity_id)} is not in the ${def.name} enum`);
  }
  if (event.type_uid !== (event.class_uid as number) * 100 + (event.activity_id as number)) {
    out.push('type_uid: expected class_uid * 100 + activity_id');
  }
  if (!SEVERITY_IDS.includes(event.severity_id as number)) out.push('severity_id: not in the enum');
  if (present(event, 'status_id') && !STATUS_IDS.includes(event.status_id as number)) {
    out.push('status_id: not in the enum');
  }
  if (present(event, 'auth_protocol_id') && !AUTH_PROTOCOL_IDS.includes(event.auth_protocol_id as number)) {
    out.push('auth_protocol_id: not in the enum');
  }
  if (!Number.isInteger(event.time) || (event.time as number) <= 0) out.push('time: expected epoch milliseconds');
  const objects: [string, string][] = [
    ['metadata', 'metadata'],
    ['user', 'user'],
    ['actor', 'actor'],
    ['src_endpoint', 'network_endpoint'],
    ['dst_endpoint', 'network_endpoint'],
    ['service', 'service'],
    ['api', 'api'],
  ];
  for (const [key, kind] of objects) if (present(event, key)) checkObject(kind, event[key], key, out);
  return out;
}
