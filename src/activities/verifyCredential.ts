/**
 * Activity `verifyCredential`: proves the stored secret works before anything relies on it: an
 * app-only token acquired with it must carry the `Mail.Send` role. Entra accepts a new secret only
 * after a propagation delay, so a refusal right after creation is reported as replication lag and the
 * orchestration's `propagation` retry preset polls with backoff. Optionally sends a test message.
 */
import { isServiceError, ServiceError } from '../clients/errors';
import type { VerifyCredentialInput, VerifyCredentialOutput } from '../contracts/activities';
import { MAIL_SEND_ROLE_VALUE } from '../contracts/wellKnown';
import type { ActivityDeps, ActivityHandler, ActivityLogger } from './deps';

export function verifyCredential(deps: ActivityDeps): ActivityHandler<VerifyCredentialInput, VerifyCredentialOutput> {
  return async (input, log) => {
    try {
      return await verify(deps, input, log);
    } catch (error) {
      // The session signs in as the environment's app and does not know the environment: name it here.
      throw isServiceError(error) ? error.withEnvironment(input.environmentId) : error;
    }
  };
}

async function verify(deps: ActivityDeps, input: VerifyCredentialInput, log: ActivityLogger): Promise<VerifyCredentialOutput> {
  const opts = { environmentId: input.environmentId };
  const secret = await deps.vault.readSecretValue(input.reference.secretName, input.reference.secretVersion, opts);
  const session = deps.signInAs({ tenantId: input.tenantId, appId: input.appId, secret });
  const roles = await session.roles();
  if (!input.mailboxScoped && !roles.includes(MAIL_SEND_ROLE_VALUE)) {
    // Consent replicates like everything else in Entra: a token minted moments after the grant may
    // lack the role. Retried by the preset; after that the run fails with this message.
    throw new ServiceError({
      kind: 'replication-lag',
      service: 'entra',
      operation: 'Verify the new credential',
      environmentId: input.environmentId,
      code: 'MissingRole',
      reason: `a token acquired with credential ${input.reference.keyId} does not carry the Mail.Send role (roles: ${roles.join(', ') || 'none'})`,
      action: 'Check that admin consent for Mail.Send (application permission) is granted to the app.',
    });
  }
  let testMessageSent = false;
  if (input.senderMailbox && input.testRecipient) {
    // Sent with the new credential, exactly as F&O will send.
    await session.sendMail(
      {
        from: input.senderMailbox,
        to: [input.testRecipient],
        subject: `F&O Graph email is set up for ${input.environmentId}`,
        bodyText: `This test message confirms that environment ${input.environmentId} can send email through Microsoft Graph as ${input.senderMailbox}, with application ${input.appId}.`,
      },
    );
    testMessageSent = true;
    log.info(`test message sent for environment ${input.environmentId} to ${input.testRecipient}`);
  }
  return { roles, testMessageSent };
}
