/**
 * The cold-start baseline: the smallest durable function app — `@azure/functions` and
 * `durable-functions` loaded, one function registered. The product's entry is compared with it.
 */
import { app } from '@azure/functions';
import * as df from 'durable-functions';

app.setup({ enableHttpStream: false });

df.app.client.http('ping', {
  route: 'ping',
  methods: ['GET'],
  authLevel: 'function',
  handler: () => Promise.resolve({ status: 200, body: 'pong' }),
});
