/**
 * cloudlocker protocol v1: the contract only. Imports nothing from src/ and
 * nothing from Node, so the Electron renderer and the browser client can use it.
 */
export * from './constants.js';
export * from './errors.js';
export * from './methods.js';
export * from './names.js';
export * from './openrpc.js';
export * from './schemas.js';
export type * from './types.js';
export * from './user-schemas.js';
