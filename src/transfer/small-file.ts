/**
 * The size up to which a file counts as small (a leaf module, so that
 * local-files.ts can use it without importing the transfer engine): small
 * files of a group share a slot (see transfer-engine.ts), and an upload
 * source this small is fstat'ed synchronously (see local-files.ts).
 */
export const SMALL_FILE_BYTES = 64 * 1024;
