/**
 * The durable client input binding: the JSON the extension hands to `df.getClient(context)`, with the
 * creation and management URL templates (webhooks on the function host, guarded by the system key)
 * and `rpcBaseUrl`, the loopback endpoint the unmodified `DurableClient` calls for every operation.
 */

export const DURABLE_WEBHOOK_PATH = '/runtime/webhooks/durabletask';
/** Placeholder the client replaces with the instance id in management URL templates. */
export const INSTANCE_ID_PLACEHOLDER = 'INSTANCEID';

export interface DurableEndpoints {
  /** Origin of the function host, e.g. `http://127.0.0.1:7071`. */
  hostOrigin: string;
  /** Loopback RPC base, e.g. `http://127.0.0.1:17071/durabletask/`. */
  rpcBaseUrl: string;
  /** Key accepted on the webhooks (the extension's system key). */
  systemKey: string;
  taskHubName: string;
  connectionName: string;
}

export interface HttpManagementPayload {
  id: string;
  statusQueryGetUri: string;
  sendEventPostUri: string;
  terminatePostUri: string;
  rewindPostUri: string;
  purgeHistoryDeleteUri: string;
  restartPostUri: string;
  suspendPostUri: string;
  resumePostUri: string;
}

function querySuffix(endpoints: DurableEndpoints): string {
  const e = encodeURIComponent;
  return `taskHub=${e(endpoints.taskHubName)}&connection=${e(endpoints.connectionName)}&code=${e(endpoints.systemKey)}`;
}

/** The extension's `GetClientResponseLinks`: URLs for one instance, on `origin` (the request's, if any). */
export function managementUrls(endpoints: DurableEndpoints, instanceId: string, origin = endpoints.hostOrigin): HttpManagementPayload {
  const base = `${origin}${DURABLE_WEBHOOK_PATH}`;
  const instance = `${base}/instances/${encodeURIComponent(instanceId)}`;
  const q = querySuffix(endpoints);
  return {
    id: instanceId,
    statusQueryGetUri: `${instance}?${q}`,
    sendEventPostUri: `${instance}/raiseEvent/{eventName}?${q}`,
    terminatePostUri: `${instance}/terminate?reason={text}&${q}`,
    rewindPostUri: `${instance}/rewind?reason={text}&${q}`,
    purgeHistoryDeleteUri: `${instance}?${q}`,
    restartPostUri: `${instance}/restart?${q}`,
    suspendPostUri: `${instance}/suspend?reason={text}&${q}`,
    resumePostUri: `${instance}/resume?reason={text}&${q}`,
  };
}

export function durableClientInput(endpoints: DurableEndpoints): Record<string, unknown> {
  const base = `${endpoints.hostOrigin}${DURABLE_WEBHOOK_PATH}`;
  const required = `code=${encodeURIComponent(endpoints.systemKey)}`;
  const creation = `${base}/orchestrators/{functionName}[/{instanceId}]`;
  return {
    taskHubName: endpoints.taskHubName,
    connectionName: endpoints.connectionName,
    creationUrls: {
      createNewInstancePostUri: `${creation}?${required}`,
      createAndWaitOnNewInstancePostUri: `${creation}?timeout={timeoutInSeconds}&pollingInterval={intervalInSeconds}&${required}`,
    },
    managementUrls: managementUrls(endpoints, INSTANCE_ID_PLACEHOLDER),
    baseUrl: base,
    requiredQueryStringParameters: required,
    rpcBaseUrl: endpoints.rpcBaseUrl,
    httpBaseUrl: base,
    maxGrpcMessageSizeInBytes: 4 * 1024 * 1024,
    grpcHttpClientTimeout: '00:01:40',
  };
}
