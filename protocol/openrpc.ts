/**
 * The OpenRPC document of protocol v1, built from the descriptors so it cannot
 * disagree with them. `protocol/openrpc.json` is this document written out
 * (tools/gen-openrpc.ts); a test fails when the committed file is stale.
 * Server-to-client notifications go under `x-notifications`, since OpenRPC
 * has no notion of them.
 */
import { PROTOCOL_VERSION } from './constants.js';
import { ApplicationErrors, JsonRpcErrorCode, type ErrorReason } from './errors.js';
import { METHODS, NOTIFICATIONS, type JsonSchema } from './methods.js';

export interface OpenRpcContentDescriptor {
  name: string;
  description?: string;
  required?: boolean;
  schema: JsonSchema;
}

export interface OpenRpcErrorObject {
  code: number;
  message: string;
  data?: unknown;
}

export interface OpenRpcMethod {
  name: string;
  summary: string;
  paramStructure: 'by-name';
  params: OpenRpcContentDescriptor[];
  result: OpenRpcContentDescriptor;
  errors: Array<{ $ref: string }>;
}

export interface OpenRpcDocument {
  openrpc: string;
  info: { title: string; version: string; description: string };
  /** Absent in the static document; a running server's rpc.discover adds its own URL (see withServer). */
  servers?: Array<{ name: string; url: string; summary: string }>;
  methods: OpenRpcMethod[];
  components: { errors: Record<string, OpenRpcErrorObject> };
  'x-notifications': Array<{ name: string; summary: string; params: OpenRpcContentDescriptor[] }>;
}

const errorRef = (key: string) => ({ $ref: `#/components/errors/${key}` });

function paramsOf(schema: JsonSchema): OpenRpcContentDescriptor[] {
  const properties = (schema['properties'] ?? {}) as Record<string, JsonSchema>;
  const required = new Set((schema['required'] ?? []) as string[]);
  return Object.entries(properties).map(([name, propertySchema]) => {
    const description = propertySchema['description'];
    return {
      name,
      ...(typeof description === 'string' ? { description } : {}),
      required: required.has(name),
      schema: propertySchema,
    };
  });
}

export function buildOpenRpcDocument(): OpenRpcDocument {
  const applicationErrors = Object.fromEntries(
    (Object.keys(ApplicationErrors) as ErrorReason[]).map((reason) => [
      reason,
      { code: ApplicationErrors[reason].code, message: ApplicationErrors[reason].message, data: { reason } },
    ]),
  );
  return {
    openrpc: '1.3.2',
    info: {
      title: 'cloudlocker',
      version: `${PROTOCOL_VERSION}.0.0`,
      description:
        'Local encrypted-file service. JSON-RPC 2.0 over a secure WebSocket; files are encrypted on this machine before they reach storage.',
    },
    methods: METHODS.map((descriptor) => ({
      name: descriptor.method,
      summary: descriptor.summary,
      paramStructure: 'by-name',
      params: paramsOf(descriptor.paramsSchema),
      result: { name: `${descriptor.method}Result`, schema: descriptor.resultSchema },
      // Every method answers -32602 for params it does not take, even one that takes none.
      errors: [errorRef('INVALID_PARAMS'), ...descriptor.errors.map(errorRef)],
    })),
    components: {
      errors: {
        PARSE_ERROR: { code: JsonRpcErrorCode.PARSE_ERROR, message: 'Parse error' },
        INVALID_REQUEST: { code: JsonRpcErrorCode.INVALID_REQUEST, message: 'Invalid Request' },
        METHOD_NOT_FOUND: { code: JsonRpcErrorCode.METHOD_NOT_FOUND, message: 'Method not found' },
        INVALID_PARAMS: { code: JsonRpcErrorCode.INVALID_PARAMS, message: 'Invalid params' },
        INTERNAL_ERROR: { code: JsonRpcErrorCode.INTERNAL_ERROR, message: 'Internal error' },
        ...applicationErrors,
      },
    },
    'x-notifications': NOTIFICATIONS.map((descriptor) => ({
      name: descriptor.method,
      summary: descriptor.summary,
      params: paramsOf(descriptor.paramsSchema),
    })),
  };
}

/** The document as a running server describes itself: the static one plus its URL. */
export function withServer(document: OpenRpcDocument, url: string): OpenRpcDocument {
  return {
    ...document,
    servers: [
      {
        name: 'cloudlocker',
        url,
        summary: 'Authenticate at the handshake with "Authorization: Bearer <token>" or the "token" query parameter.',
      },
    ],
  };
}
