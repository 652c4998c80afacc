/**
 * The composition root of the file methods: builds the configured storage
 * backend and the transfer engine, wires the engine's events to the
 * server's notification hub, and hands the server its handlers.
 */
import type { ServerConfig } from './config/index.js';
import { createFileMethodHandlers } from './methods/file-methods.js';
import { createUserMethodHandlers } from './methods/user-methods.js';
import { trustedAuthors, unlockedKeyIfSame } from './methods/key-sources.js';
import { guardReservedNames } from './storage/reserved-names.js';
import { ContactBook } from './users/contacts.js';
import { IdentitySession } from './users/identity-session.js';
import type { MethodSet, ServerContext } from './server/start-server.js';
import { createStorage, type Storage, type StorageConfig } from './storage/index.js';
import { ResumableTransfers } from './transfer/resume.js';
import { TransferEngine } from './transfer/transfer-engine.js';
import { PendingTemporaries } from './transfer/pending-temporaries.js';
import { TransferJournal } from './transfer/transfer-journal.js';
import { TransferRegistry } from './transfer/transfer-registry.js';

/** Finished transfers stay listed (and journaled) this long unless acknowledged. */
const FINISHED_RETENTION_MS = 24 * 60 * 60 * 1000;

export interface FileServicesOptions {
  /**
   * A storage backend to use instead of the configured one (an app with a
   * backend of its own; tests that need a slow or failing store). It is
   * initialised and closed by the service like the configured one.
   */
  readonly storageBackend?: Storage;
  /**
   * Set V8's process-wide `--semi-space-growth-factor=1` (transfer/gc-tuning.ts:
   * lower peak RSS during transfers). Default false: an embedding app decides;
   * the `cloudlocker` command sets it itself.
   */
  readonly tuneGarbageCollection?: boolean;
  /** scrypt work factor (log2 N) of identity copies written to the store. Default 18 (age's). Lower only in tests. */
  readonly identityCopyLogN?: number;
}

export async function createFileServices(context: ServerContext, options: FileServicesOptions = {}): Promise<MethodSet> {
  const { config, logger, notifications } = context;
  const rawStorage =
    options.storageBackend ??
    (await createStorage(storageConfigOf(config), { onWarning: (message) => logger.warn({ component: 'storage' }, message) }));
  // Everything but the identity-copy methods sees the store without its reserved names (.cloudlocker/).
  const storage = guardReservedNames(rawStorage);
  const contacts = new ContactBook(config.dataDir);
  // The journal first: the store must keep the unfinished writes it will resume.
  const journal = await TransferJournal.open(config.dataDir, { finishedRetentionMs: FINISHED_RETENTION_MS });
  await storage.init({ keepWrites: ResumableTransfers.keepWrites(journal) });
  // exportFile's temporaries a crashed run left beside their destinations go now (share and unshare leave theirs in the store, whose init() empties them).
  const pendingTemporaries = await PendingTemporaries.open(config.dataDir);
  const registry = new TransferRegistry({ progressIntervalMs: config.progressIntervalMs, retentionMs: FINISHED_RETENTION_MS });
  const session = new IdentitySession({
    onChange: (params) => {
      logger.info({ unlocked: params.unlocked, cause: params.cause, cardId: params.cardId }, 'identity state changed');
      // The transfers' seq sequence: one order for all notifications, replayed alike after a reconnect.
      notifications.publish({ method: 'identityChanged', params: { ...params, seq: registry.takeSeq() } });
    },
  });
  // Progress may be coalesced per transfer for a slow reader; a finish is never dropped.
  registry.on('transferProgress', (params) =>
    notifications.publish({ method: 'transferProgress', params }, { coalesceKey: params.transferId }),
  );
  registry.on('transferFinished', (params) =>
    notifications.publish({ method: 'transferFinished', params }, { coalesceKey: params.transferId }),
  );
  registry.on('deleteProgress', (params) => notifications.publish({ method: 'deleteProgress', params }, { coalesceKey: `delete:${params.operationId}` }));
  const resumable = new ResumableTransfers({
    journal,
    storage,
    registry,
    logger: logger.child({ component: 'transfer' }),
    // A resumed download trusts the contacts as the first run did.
    trustedAuthors: async (key) => (await trustedAuthors(key, contacts)).authors,
    // A resume without a passphrase uses the unlocked identity when it is the one the transfer started with.
    unlockedKey: (cardId) => unlockedKeyIfSame(session, cardId),
  });
  const engine = new TransferEngine({
    storage,
    registry,
    checkpoints: resumable,
    maxConcurrentTransfers: config.maxConcurrentTransfers,
    maxQueuedTransfers: config.maxQueuedTransfers,
    payloadWorkers: config.payloadWorkers,
    logger: logger.child({ component: 'transfer' }),
    tuneGarbageCollection: options.tuneGarbageCollection === true,
  });
  resumable.attach(engine);
  await resumable.restore();
  if (config.resumeOnStart) resumable.resumeAll();
  logger.info({ storage: storage.kind, location: storage.location }, 'storage ready');
  return {
    ...createFileMethodHandlers(storage, engine, resumable, { session, contacts }),
    ...createUserMethodHandlers({ session, contacts, rawStorage, identityCopyLogN: options.identityCopyLogN, pendingTemporaries }, storage, engine),
    storageInfo: {
      kind: storage.kind === 's3' ? 's3' : 'local',
      location: storage.location,
      atomicNoOverwrite: storage.capabilities.atomicNoOverwrite,
      headerRewrite: storage.capabilities.headerRewrite,
      warnings: [...(storage.warnings ?? [])],
    },
    close: async () => {
      session.lock('shutdown');
      await engine.close();
      await journal.close();
      await storage.close();
    },
  };
}

function storageConfigOf(config: ServerConfig): StorageConfig {
  const { storage } = config;
  if (storage.kind === 'local') return { kind: 'local', directory: storage.storeDir };
  return {
    kind: 's3',
    bucket: storage.bucket,
    prefix: storage.prefix,
    ...(storage.region === undefined ? {} : { region: storage.region }),
    ...(storage.endpoint === undefined ? {} : { endpoint: storage.endpoint }),
    forcePathStyle: storage.forcePathStyle,
  };
}
