/**
 * The preload (a CommonJS script: sandboxed preloads cannot be ES modules).
 * It exposes one function to the page: ask the main process for the
 * service's URL and token. Nothing else of Electron or Node reaches the page.
 */
// [preload]
import { contextBridge, ipcRenderer } from 'electron';

contextBridge.exposeInMainWorld('cloudlocker', {
  connection: () => ipcRenderer.invoke('cloudlocker:connection') as Promise<{ url: string; token: string }>,
});
// [/preload]
