/**
 * Emulated Graph `users` and `sendMail`: the Exchange Online-backed answers an app-only caller sees
 * (Mail.Send role, unknown mailbox, RBAC for Applications scoping), and a record of every message
 * accepted so tests can read what F&O's sender would have delivered.
 */
import { z } from 'zod';
import { reachOf } from './graph-permissions';
import { entity, fail, insufficientPrivileges, methodNotAllowed, ok, parseBody, resourceNotFound, userView, type GraphContext, type Segment } from './graph-support';
import type { SandboxResponse, UserRecord } from './types';

const recipientSchema = z.object({
  emailAddress: z.object({ address: z.string().min(1), name: z.string().optional() }),
});

const sendMailSchema = z.object({
  message: z.object({
    subject: z.string().optional(),
    body: z.object({ contentType: z.enum(['text', 'Text', 'html', 'HTML', 'Html']).optional(), content: z.string() }).optional(),
    toRecipients: z.array(recipientSchema).optional(),
    ccRecipients: z.array(recipientSchema).optional(),
    bccRecipients: z.array(recipientSchema).optional(),
  }),
  saveToSentItems: z.union([z.boolean(), z.enum(['true', 'false'])]).optional(),
});

function findUser(ctx: GraphContext, idOrUpn: string): UserRecord | undefined {
  const wanted = idOrUpn.toLowerCase();
  return ctx.tenant.users.find(
    (u) => u.id.toLowerCase() === wanted || u.userPrincipalName.toLowerCase() === wanted || u.mail.toLowerCase() === wanted,
  );
}

function accessDenied(ctx: GraphContext): SandboxResponse {
  return fail(ctx, 403, 'ErrorAccessDenied', 'Access is denied. Check credentials and try again.');
}

/** The mailboxes an Exchange RBAC for Applications assignment (`Application Mail.Send` on a management scope) lets the app send as, if any. */
function exchangeScopeOf(ctx: GraphContext): Set<string> | undefined {
  const allowed = ctx.state.mailboxScopes[ctx.claims.appid.toLowerCase()] ?? ctx.state.mailboxScopes[ctx.claims.appid];
  return allowed ? new Set(allowed.map((a) => a.toLowerCase())) : undefined;
}

/**
 * Who may send as a mailbox, as Exchange Online decides it: the Entra `Mail.Send` application permission
 * grants every mailbox; an RBAC for Applications assignment grants the mailboxes in its scope. The two are
 * additive, which is why scoping an app means removing its tenant-wide `Mail.Send` grant.
 */
function sendMail(ctx: GraphContext, idOrUpn: string): SandboxResponse {
  const tenantWide = reachOf(ctx.claims, 'mail.send') !== 'none';
  const scope = exchangeScopeOf(ctx);
  if (!tenantWide && !scope) return accessDenied(ctx);
  const user = findUser(ctx, idOrUpn);
  if (!user) return fail(ctx, 404, 'ErrorInvalidUser', `The requested user '${idOrUpn}' is invalid.`);
  if (!tenantWide && !(scope?.has(user.userPrincipalName.toLowerCase()) || scope?.has(user.mail.toLowerCase()))) return accessDenied(ctx);
  const parsed = parseBody(ctx, sendMailSchema);
  if ('response' in parsed) return parsed.response;
  const message = parsed.value.message;
  const to = (message.toRecipients ?? []).map((r) => r.emailAddress.address);
  const all = [...to, ...(message.ccRecipients ?? []).map((r) => r.emailAddress.address), ...(message.bccRecipients ?? []).map((r) => r.emailAddress.address)];
  if (all.length === 0) {
    return fail(ctx, 400, 'ErrorInvalidRecipients', 'At least one recipient is not valid., A message can\'t be sent because it contains no recipients.');
  }
  if (all.some((a) => !/^[^@\s]+@[^@\s]+$/.test(a))) {
    return fail(ctx, 400, 'ErrorInvalidRecipients', 'At least one recipient is not valid.');
  }
  ctx.state.sentMail.push({
    from: user.userPrincipalName,
    senderAppId: ctx.claims.appid,
    subject: message.subject ?? '',
    to,
    body: message.body?.content ?? '',
    sentAt: ctx.state.nowIso(),
    ...(ctx.tenant.isHome ? {} : { tenantId: ctx.tenant.tenantId }),
  });
  return ok(ctx, 202);
}

/** Routes everything under `/users`. */
export function handleUsers(ctx: GraphContext, segments: Segment[]): SandboxResponse {
  const method = ctx.req.method.toUpperCase();
  const [first, second, third] = segments;
  if (!first || first.altKey || !second || segments.length > 3) {
    return fail(ctx, 400, 'BadRequest', 'Only /users/{id | userPrincipalName} and its sendMail action are available here.');
  }
  const idOrUpn = second.name;
  if (third) {
    if (third.name !== 'sendMail') return fail(ctx, 400, 'BadRequest', `Resource not found for the segment '${third.name}'.`);
    if (method !== 'POST') return methodNotAllowed(ctx);
    return sendMail(ctx, idOrUpn);
  }
  if (method !== 'GET') return methodNotAllowed(ctx);
  if (reachOf(ctx.claims, 'users.read') === 'none') return insufficientPrivileges(ctx);
  const user = findUser(ctx, idOrUpn);
  if (!user) return resourceNotFound(ctx, idOrUpn);
  return entity(ctx, 'users', userView(user));
}
