/**
 * Activity `notify`: tells people a run needs them (or that something went wrong): always a structured
 * log line (for Application Insights alert rules), and mail to the configured recipients through Graph,
 * sent by the product's own identity. Never carries a secret: callers pass ids, links and references.
 */
import type { NotifyInput, NotifyOutput } from '../contracts/activities';
import type { ActivityDeps, ActivityHandler } from './deps';

export function notify(deps: ActivityDeps): ActivityHandler<NotifyInput, NotifyOutput> {
  return async (input, log) => {
    // The details go into the line too: without alert mail (no recipients, or no Mail.Send) it is the only report.
    const about = input.environmentId !== undefined ? { environmentId: input.environmentId } : input.tenantId !== undefined ? { tenantId: input.tenantId } : {};
    const line = JSON.stringify({ event: `fno-graph-mail.${input.kind}`, ...about, subject: input.subject, details: input.lines });
    if (input.kind === 'alert') log.error(line);
    else log.warn(line);
    const { senderMailbox, alertRecipients, homeTenantId } = deps.settings;
    if (!senderMailbox || alertRecipients.length === 0) return { mailed: 0 };
    try {
      await deps.entra(homeTenantId).sendMail(
        { from: senderMailbox, to: alertRecipients, subject: input.subject, bodyText: input.lines.join('\n') },
        input.environmentId !== undefined ? { environmentId: input.environmentId } : {},
      );
    } catch (error) {
      // A notification must never fail the run it reports on; the log line above already carries it.
      const what = input.environmentId !== undefined ? `environment ${input.environmentId}` : `tenant ${input.tenantId ?? '(none)'}`;
      log.error(`notification mail for ${what} could not be sent: ${error instanceof Error ? error.message : String(error)}`);
      return { mailed: 0 };
    }
    return { mailed: alertRecipients.length };
  };
}
