/**
 * Activities `prepareMailboxScope` and `verifyMailboxScope`: limiting the mailboxes the app may send
 * as. Exchange Online does this with RBAC for Applications (a management scope and an `Application
 * Mail.Send` role assignment for the app's service principal), which no Graph API performs; so the
 * product writes the commands for an administrator, and afterwards proves the result with the new
 * credential: sending as a mailbox in the scope is accepted, outside it refused, and the token carries no
 * tenant-wide `Mail.Send` (which would override any scope).
 */
import { isServiceError, ServiceError } from '../clients/errors';
import type {
  PrepareMailboxScopeInput,
  PrepareMailboxScopeOutput,
  VerifyMailboxScopeInput,
  VerifyMailboxScopeOutput,
} from '../contracts/activities';
import { mailboxScopeCommands } from '../contracts/exchange';
import { describeMailboxScope } from '../contracts/setup';
import { MAIL_SEND_ROLE_VALUE, SECRET_TAGS } from '../contracts/wellKnown';
import type { ActivityDeps, ActivityHandler } from './deps';

export function prepareMailboxScope(): ActivityHandler<PrepareMailboxScopeInput, PrepareMailboxScopeOutput> {
  return (input) => {
    const count = input.scope.mailboxes?.length ?? 0;
    const target = input.scope.group ? `the members of group ${input.scope.group}` : `the ${count} mailbox${count === 1 ? '' : 'es'} of the scope`;
    return Promise.resolve({
      instructions: {
        appId: input.appId,
        servicePrincipalId: input.servicePrincipalId,
        commands: mailboxScopeCommands(input),
        steps: [
          `Run these commands to let application ${input.appId} send only as ${target}.`,
          'Exchange applies new role assignments within about an hour; verification retries meanwhile.',
          'Then raise the MailboxScopeApplied event on this operation.',
        ],
      },
    });
  };
}

export function verifyMailboxScope(deps: ActivityDeps): ActivityHandler<VerifyMailboxScopeInput, VerifyMailboxScopeOutput> {
  return async (input, log) => {
    const opts = { environmentId: input.environmentId };
    const secret = await deps.vault.readSecret(input.reference.secretName, input.reference.secretVersion, opts);
    const session = deps.signInAs({ tenantId: input.tenantId, appId: input.appId, secret: secret.value });
    const fail = (code: string, reason: string, action: string, kind: 'permanent' | 'replication-lag' = 'permanent'): ServiceError =>
      new ServiceError({ kind, service: 'graph', operation: 'Verify the mailbox scope', environmentId: input.environmentId, code, reason, action });

    const roles = await session.roles();
    if (roles.includes(MAIL_SEND_ROLE_VALUE)) {
      throw fail(
        'TenantWideMailSend',
        'the app still holds the tenant-wide Mail.Send application permission, which lets it send as any mailbox whatever the scope',
        'Run the Remove-MgServicePrincipalAppRoleAssignment command from the instructions, then raise MailboxScopeApplied again.',
        'replication-lag',
      );
    }
    const inScope = input.scope.mailboxes?.[0] ?? input.testRecipient;
    if (!inScope) throw fail('NoTestMailbox', 'a group scope needs a test recipient that is a member of the group', 'Start setup again with testRecipient set to a member of the group.');
    const message = (from: string) => ({
      from,
      to: [input.testRecipient ?? from],
      subject: `F&O Graph email for ${input.environmentId} is limited to its mailboxes`,
      bodyText: `This message confirms that application ${input.appId} may send as ${from}.`,
    });
    try {
      await session.sendMail(message(inScope));
    } catch (error) {
      if (isServiceError(error) && error.status === 403) {
        // Exchange applies RBAC for Applications assignments with a delay: retried by the preset.
        throw fail('ScopeNotApplied', `sending as ${inScope}, inside the scope, was refused`, 'Check the management scope and role assignment from the instructions.', 'replication-lag');
      }
      throw error;
    }
    let outOfScopeRefused: string | undefined;
    if (input.scope.outOfScopeTestMailbox) {
      const outside = input.scope.outOfScopeTestMailbox;
      try {
        await session.sendMail(message(outside));
      } catch (error) {
        if (isServiceError(error) && error.status === 403) outOfScopeRefused = outside;
        else throw error;
      }
      if (!outOfScopeRefused) {
        throw fail('ScopeNotEnforced', `sending as ${outside}, outside the scope, was accepted`, 'Check the management scope filter and that the tenant-wide Mail.Send grant is removed.', 'replication-lag');
      }
    }
    await deps.vault.updateVersionTags(
      input.reference.secretName,
      input.reference.secretVersion,
      { [SECRET_TAGS.mailboxScope]: describeMailboxScope(input.scope) },
      { ...opts, currentTags: secret.properties.tags },
    );
    log.info(`mailbox scope of environment ${input.environmentId} verified: ${describeMailboxScope(input.scope)}`);
    return { inScopeAccepted: inScope, ...(outOfScopeRefused ? { outOfScopeRefused } : {}) };
  };
}
