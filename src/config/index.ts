export * from './config.js';
export { SETTINGS_SCHEMA, SETTING_NAMES, environmentVariableOf, flagOf, type SettingName } from './config-schema.js';
export { platformDataDir } from './data-dir.js';
