/**
 * A TCP relay between a client and the service, for reconnect tests: it can
 * cut every connection and refuse new ones for a while ("the network is
 * down") without touching the service, and let them through again. TLS goes
 * through it untouched, so the client still pins the service's certificate.
 */
import net from 'node:net';

export interface TcpProxy {
  readonly port: number;
  /** Like setting the service's port in a URL: wss://127.0.0.1:<port>/rpc. */
  urlFor(serviceUrl: string): string;
  /** Cut every relayed connection and refuse new ones until resume(). */
  cut(): void;
  resume(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>();
  let down = false;
  const server = net.createServer((client) => {
    client.on('error', () => undefined);
    if (down) {
      client.destroy();
      return;
    }
    const upstream = net.connect(targetPort, '127.0.0.1');
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
    sockets.add(client).add(upstream);
    client.on('close', () => sockets.delete(client));
    upstream.on('close', () => sockets.delete(upstream));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  const cutAll = () => {
    for (const socket of sockets) socket.destroy();
    sockets.clear();
  };
  return {
    port,
    urlFor: (serviceUrl) => {
      const url = new URL(serviceUrl);
      url.port = String(port);
      return url.toString();
    },
    cut: () => {
      down = true;
      cutAll();
    },
    resume: () => {
      down = false;
    },
    close: async () => {
      cutAll();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
