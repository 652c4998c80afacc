/**
 * A stand-in for the `electron` module, for running the example app's main
 * process (examples/electron/src/main.ts, main-in-process.ts) under plain node: there is no
 * Electron binary on this machine (docs/electron.md, "What has been run").
 *
 * It models only what main.ts calls, and records every call. What it shows is
 * the app's wiring (which calls, in which order, with which arguments, and
 * that the real bundle started that way serves); it is NOT Electron:
 * utilityProcess.fork is a plain `node` child with piped stdout/stderr,
 * setCertificateVerifyProc only stores the function for the test to call,
 * windows, preload and sandbox do nothing.
 *
 * The esbuild build of main.ts and the driver each get a copy of this file:
 * every object lives on globalThis, so both copies hand out the same ones.
 */
import { spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

export interface StubCall {
  readonly name: string;
  readonly args: unknown[];
}

type VerifyProc = (request: { hostname: string; certificate: { data: string } }, callback: (result: number) => void) => void;

class StubWindow {
  static readonly windows: StubWindow[] = [];
  static getAllWindows(): StubWindow[] {
    return [...StubWindow.windows];
  }
  url: string | undefined;
  constructor(readonly options: unknown) {
    record('new BrowserWindow', options);
    StubWindow.windows.push(this);
    stub().windowCreated.emit('created', this);
  }
  loadURL(url: string): Promise<void> {
    record('BrowserWindow.loadURL', url);
    this.url = url;
    return Promise.resolve();
  }
  isMinimized(): boolean {
    return false;
  }
  restore(): void {}
  focus(): void {
    record('BrowserWindow.focus');
  }
}

function createStub() {
  let markReady!: () => void;
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  const appEvents = new EventEmitter();
  const sessions = new Map<string, { partition: string; verifyProc: VerifyProc | undefined; setCertificateVerifyProc(proc: VerifyProc): void }>();
  const state = {
    calls: [] as StubCall[],
    markReady,
    appEvents,
    windowCreated: new EventEmitter(),
    /** 'pinned' when a session gets its certificate verify proc. */
    pinned: new EventEmitter(),
    exited: new EventEmitter(),
    ipcHandlers: new Map<string, (event: unknown, ...args: unknown[]) => unknown>(),
    protocolHandlers: new Map<string, (request: Request) => Response | Promise<Response>>(),
    sessions,
    forked: [] as Array<{ pid: number | undefined; exitCode: () => number | null }>,
    electron: {} as Record<string, unknown>,
  };
  state.electron = {
    app: {
      requestSingleInstanceLock: () => {
        record('app.requestSingleInstanceLock');
        return process.env['STUB_SINGLE_INSTANCE_LOCK'] !== 'taken';
      },
      quit: () => {
        record('app.quit');
        // Electron emits before-quit; a handler may hold the quit with preventDefault().
        let prevented = false;
        appEvents.emit('before-quit', { preventDefault: () => (prevented = true) });
        if (!prevented) state.exited.emit('exit', 0);
      },
      exit: (code = 0) => {
        record('app.exit', code);
        state.exited.emit('exit', code);
      },
      on: (event: string, listener: (...args: unknown[]) => void) => {
        record('app.on', event);
        appEvents.on(event, listener);
      },
      whenReady: () => ready,
      getAppPath: () => process.env['STUB_APP_PATH']!,
      getPath: (name: string) => {
        if (name !== 'userData') throw new Error(`the stub knows only userData, not ${name}`);
        return process.env['STUB_USER_DATA']!;
      },
    },
    BrowserWindow: StubWindow,
    dialog: { showErrorBox: (title: string, content: string) => record('dialog.showErrorBox', title, content) },
    ipcMain: {
      handle: (channel: string, handler: (event: unknown, ...args: unknown[]) => unknown) => {
        record('ipcMain.handle', channel);
        state.ipcHandlers.set(channel, handler);
      },
    },
    net: {
      // Electron's net.fetch reads file: URLs; node's fetch does not.
      fetch: async (url: string) => {
        record('net.fetch', url);
        return new Response(await readFile(fileURLToPath(url)));
      },
    },
    protocol: {
      registerSchemesAsPrivileged: (schemes: unknown) => record('protocol.registerSchemesAsPrivileged', schemes),
      handle: (scheme: string, handler: (request: Request) => Response | Promise<Response>) => {
        record('protocol.handle', scheme);
        state.protocolHandlers.set(scheme, handler);
      },
    },
    session: {
      fromPartition: (partition: string) => {
        let session = sessions.get(partition);
        if (session === undefined) {
          const created = {
            partition,
            verifyProc: undefined as VerifyProc | undefined,
            setCertificateVerifyProc(proc: VerifyProc) {
              record('session.setCertificateVerifyProc', partition);
              created.verifyProc = proc;
              state.pinned.emit('pinned', partition);
            },
          };
          session = created;
          sessions.set(partition, session);
        }
        return session;
      },
    },
    utilityProcess: {
      fork: (modulePath: string, args: string[], options: { env?: Record<string, string>; stdio?: string; serviceName?: string }) => {
        record('utilityProcess.fork', modulePath, args, { stdio: options.stdio, serviceName: options.serviceName, envNames: Object.keys(options.env ?? {}) });
        // Electron runs the script in a Node child process; here: plain node, stdout and stderr piped as with stdio 'pipe'.
        const child = spawn(process.execPath, [modulePath, ...args], { env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
        const utility = Object.assign(new EventEmitter(), {
          pid: child.pid,
          stdout: child.stdout,
          stderr: child.stderr,
          kill: () => child.kill('SIGTERM'),
        });
        child.on('exit', (code) => utility.emit('exit', code ?? -1));
        // If the app (this process) dies first, e.g. on a failed check, the service must not outlive it.
        process.once('exit', () => {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        });
        state.forked.push({ pid: child.pid, exitCode: () => child.exitCode });
        return utility;
      },
    },
  };
  return state;
}

export type ElectronStub = ReturnType<typeof createStub>;

export function stub(): ElectronStub {
  const holder = globalThis as { __electronStub?: ElectronStub };
  holder.__electronStub ??= createStub();
  return holder.__electronStub;
}

function record(name: string, ...args: unknown[]): void {
  stub().calls.push({ name, args });
}

const electron = stub().electron as Record<string, never>;
export const app = electron['app'];
export const BrowserWindow = electron['BrowserWindow'];
export const dialog = electron['dialog'];
export const ipcMain = electron['ipcMain'];
export const net = electron['net'];
export const protocol = electron['protocol'];
export const session = electron['session'];
export const utilityProcess = electron['utilityProcess'];
