export {
  startServer,
  ServerStartError,
  type MethodSet,
  type RunningServer,
  type ServerContext,
  type ServerOptions,
  type StorageInfo,
} from './start-server.js';
export { NotificationHub, type HubNotification, type NotificationHubOptions, type NotificationSink, type PublishOptions } from './notification-hub.js';
export { readDiscoveryFile, discoveryFilePath, type DiscoveryRecord } from './discovery-file.js';
export { DataDirInUseError, LOCK_FILE_NAME } from './instance-lock.js';
export { CertificateError, certificateFingerprints, type ServerCertificate } from './tls-certificate.js';
