/**
 * getServerInfo: who this server is and what it allows. Everything here is
 * decided at start (config and the storage backend in use), so the handler
 * only returns a frozen answer.
 */
import { MAX_LIST_LIMIT, PROTOCOL_VERSION, type GetServerInfo, type GetServerInfoResult } from '../../protocol/index.js';
import { WRITTEN_FORMAT_VERSION } from '../crypto/written-format.js';
import type { MethodHandler } from './handler.js';


export interface ServerInfoFacts {
  /** This build's version (package.json). */
  readonly version: string;
  readonly storage: GetServerInfoResult['storage'];
  readonly limits: Omit<GetServerInfoResult['limits'], 'maxListLimit'>;
}

export function createGetServerInfoHandler(facts: ServerInfoFacts): MethodHandler<typeof GetServerInfo> {
  const info: GetServerInfoResult = {
    name: 'cloudlocker',
    version: facts.version,
    protocolVersion: PROTOCOL_VERSION,
    formatVersion: WRITTEN_FORMAT_VERSION,
    storage: { ...facts.storage },
    limits: { ...facts.limits, maxListLimit: MAX_LIST_LIMIT },
  };
  return async () => info;
}
