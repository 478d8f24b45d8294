/**
 * The extension's local RPC endpoint (`rpcBaseUrl`, e.g. `http://127.0.0.1:17071/durabletask/`): the
 * loopback listener `DurableClient` talks to for every operation. Like the extension's own listener,
 * it has no keys and listens on loopback only.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { BodyTooLargeError, emptyResponse, readBody, toHostRequest, writeResponse, type HostResponse } from '../http';
import type { RuntimeLog } from '../logs';
import type { DurableHttpApi } from './httpApi';

export const RPC_BASE_PATH = '/durabletask/';

export interface RpcListener {
  readonly rpcBaseUrl: string;
  readonly port: number;
  close(): Promise<void>;
}

export async function startRpcListener(api: DurableHttpApi, options: { port?: number | undefined; log: RuntimeLog; maxBodyBytes?: number | undefined }): Promise<RpcListener> {
  const hostname = '127.0.0.1';
  const maxBody = options.maxBodyBytes ?? 16 * 1024 * 1024;
  const server = http.createServer((req, res) => {
    void (async () => {
      let response: HostResponse;
      try {
        const request = toHostRequest(req, await readBody(req, maxBody), hostname);
        const path = request.url.pathname;
        response = path.startsWith(RPC_BASE_PATH) ? await api.handle(request, path.slice(RPC_BASE_PATH.length)) : emptyResponse(404);
      } catch (err) {
        response = emptyResponse(err instanceof BodyTooLargeError ? 413 : 500);
        if (!(err instanceof BodyTooLargeError)) {
          options.log.host('error', `Durable RPC request failed: ${err instanceof Error ? err.message : String(err)}`);
        }
      }
      writeResponse(res, response);
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 17071, hostname, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const rpcBaseUrl = `http://${hostname}:${port}${RPC_BASE_PATH}`;
  options.log.host('information', `Opened local durable RPC endpoint: ${rpcBaseUrl}`);
  return {
    rpcBaseUrl,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
