/**
 * S3's multipart bookkeeping in front of s3rver, for tests that must see
 * whether a multipart upload was left open.
 *
 * s3rver 3.7 stores parts and completes uploads but answers
 * AbortMultipartUpload with 405 and ListMultipartUploads with 501, so on it
 * nobody can tell an aborted upload from one left behind (the backend
 * declares the gap: abortCleansUp false). This loopback proxy forwards every
 * request to s3rver unchanged (the Host header too, so signatures still
 * verify) and keeps the books S3 keeps: an upload is open from
 * CreateMultipartUpload until CompleteMultipartUpload succeeds or
 * AbortMultipartUpload removes it. It answers AbortMultipartUpload and
 * ListMultipartUploads itself, as S3 does, and refuses parts and completions
 * of an upload that is not open (NoSuchUpload). A backend over the ledger
 * declares only s3rver's other gap (conditional writes).
 *
 * A test reads the books through the S3 API (ListMultipartUploads), as it
 * would on a real S3 store.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ListMultipartUploadsCommand, S3Client } from '@aws-sdk/client-s3';
import { S3RVER_CREDENTIALS, TEST_BUCKET } from './s3rver.js';

export interface OpenUpload {
  readonly key: string;
  readonly uploadId: string;
}

export interface MultipartLedger {
  readonly endpoint: string;
  /** Resolves with the next upload CreateMultipartUpload opens. */
  nextCreated(): Promise<OpenUpload>;
  stop(): Promise<void>;
}

interface Entry extends OpenUpload {
  readonly bucket: string;
  readonly initiated: Date;
}

export async function startMultipartLedger(upstream: string): Promise<MultipartLedger> {
  const target = new URL(upstream);
  const open = new Map<string, Entry>();
  const createdWaiters: Array<(upload: OpenUpload) => void> = [];

  const server = http.createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://ledger');
    const [bucket = '', ...keyParts] = url.pathname.slice(1).split('/');
    const key = decodeURIComponent(keyParts.join('/'));
    const uploadId = url.searchParams.get('uploadId');
    const method = request.method ?? 'GET';

    if (method === 'GET' && url.searchParams.has('uploads') && key === '') {
      request.resume();
      const prefix = url.searchParams.get('prefix') ?? '';
      const uploads = [...open.values()].filter((entry) => entry.bucket === bucket && entry.key.startsWith(prefix));
      sendXml(response, 200, listUploadsXml(bucket, prefix, uploads));
      return;
    }
    if (uploadId !== null && !open.has(uploadId)) {
      request.resume();
      sendXml(response, 404, errorXml('NoSuchUpload', 'The specified upload does not exist.'));
      return;
    }
    if (method === 'DELETE' && uploadId !== null) {
      request.resume();
      open.delete(uploadId);
      response.writeHead(204).end();
      return;
    }

    const opening = method === 'POST' && url.searchParams.has('uploads');
    const completing = method === 'POST' && uploadId !== null;
    forward(request, response, target, opening || completing, (status, body) => {
      if (status < 200 || status >= 300 || body.includes('<Error>')) return;
      if (opening) {
        const id = /<UploadId>([^<]+)<\/UploadId>/.exec(body)?.[1];
        if (id === undefined) return;
        const entry = { bucket, key, uploadId: id, initiated: new Date() };
        open.set(id, entry);
        for (const waiter of createdWaiters.splice(0)) waiter({ key, uploadId: id });
      } else if (completing) {
        open.delete(uploadId);
      }
    });
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    nextCreated: () => new Promise((resolve) => createdWaiters.push(resolve)),
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The open multipart uploads under `prefix`, by ListMultipartUploads (one page: tests open few), on the ledger or any S3 store. */
export async function listOpenUploads(
  endpoint: string,
  prefix: string,
  credentials: { readonly accessKeyId: string; readonly secretAccessKey: string } = S3RVER_CREDENTIALS,
): Promise<OpenUpload[]> {
  const client = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials });
  try {
    const listing = await client.send(new ListMultipartUploadsCommand({ Bucket: TEST_BUCKET, Prefix: prefix }));
    expectNotTruncated(listing.IsTruncated);
    return (listing.Uploads ?? []).map((upload) => ({ key: upload.Key ?? '', uploadId: upload.UploadId ?? '' }));
  } finally {
    client.destroy();
  }
}

function expectNotTruncated(truncated: boolean | undefined): void {
  if (truncated === true) throw new Error('ListMultipartUploads was truncated: the test opened more uploads than it can list');
}

function forward(
  request: http.IncomingMessage,
  response: http.ServerResponse,
  target: URL,
  inspect: boolean,
  onAnswered: (status: number, body: string) => void,
): void {
  const upstream = http.request(
    { host: target.hostname, port: target.port, method: request.method, path: request.url, headers: request.headers },
    (answer) => {
      const status = answer.statusCode ?? 502;
      if (!inspect) {
        response.writeHead(status, answer.headers);
        answer.pipe(response);
        return;
      }
      const chunks: Buffer[] = [];
      answer.on('data', (chunk: Buffer) => chunks.push(chunk));
      answer.on('end', () => {
        const body = Buffer.concat(chunks);
        onAnswered(status, body.toString('utf8'));
        response.writeHead(status, answer.headers);
        response.end(body);
      });
      answer.on('error', () => response.destroy());
    },
  );
  // A client that gives up (a cancelled part) closes its side: pass that on.
  upstream.on('error', () => response.destroy());
  request.on('close', () => {
    if (!request.complete) upstream.destroy();
  });
  request.pipe(upstream);
}

function sendXml(response: http.ServerResponse, status: number, xml: string): void {
  response.writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(xml) });
  response.end(xml);
}

function listUploadsXml(bucket: string, prefix: string, uploads: readonly Entry[]): string {
  const items = uploads
    .map(
      (entry) =>
        `<Upload><Key>${escapeXml(entry.key)}</Key><UploadId>${escapeXml(entry.uploadId)}</UploadId>` +
        `<Initiated>${entry.initiated.toISOString()}</Initiated><StorageClass>STANDARD</StorageClass></Upload>`,
    )
    .join('');
  return (
    '<?xml version="1.0" encoding="UTF-8"?>' +
    '<ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
    `<Bucket>${escapeXml(bucket)}</Bucket><KeyMarker></KeyMarker><UploadIdMarker></UploadIdMarker>` +
    `<Prefix>${escapeXml(prefix)}</Prefix><MaxUploads>1000</MaxUploads><IsTruncated>false</IsTruncated>` +
    `${items}</ListMultipartUploadsResult>`
  );
}

function errorXml(code: string, message: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${message}</Message></Error>`;
}

function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}
