/**
 * The version of the format new key files write in (format v2, age; a v1
 * key file still writes v1), for getServerInfo.
 * A leaf module on purpose: the server's own method imports it, and pulling
 * the crypto graph into the server's import graph as well trips Jest's ESM
 * loader when the serve command imports both halves at once ("request for
 * ... is not in cache"). test/crypto/formats.test.ts checks it is the
 * version of keyFileFormat (key-file-formats.ts).
 */
export const WRITTEN_FORMAT_VERSION = 2;
