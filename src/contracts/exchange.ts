/**
 * The Exchange Online commands that limit an environment's app to its mailboxes (RBAC for
 * Applications), composed from ids and validated addresses only. Pure text: the setup run sends them in
 * its notice, and the operations API and the command line compose them for a waiting run from the run's
 * own input, so the run's custom status (16 KB at most) never carries a list that grows with the scope.
 *
 * PowerShell ends a single-quoted string at `'` and also at the typographic quotes U+2018, U+2019,
 * U+201A and U+201B, and inside one a quote is escaped by doubling it (about_Quoting_Rules:
 * https://learn.microsoft.com/powershell/module/microsoft.powershell.core/about/about_quoting_rules).
 */
import { mailboxScopeNameFor, uniqueNameFor } from './names';
import type { MailboxScopeInstructions } from './operations';
import type { MailboxScope } from './setup';
import { MAIL_SEND_ROLE_ID } from './wellKnown';

/** The characters PowerShell treats as a single quote. */
export const POWERSHELL_SINGLE_QUOTES = ["'", '\u2018', '\u2019', '\u201a', '\u201b'] as const;

/** A PowerShell single-quoted string holding exactly `value`: every single-quote character doubled. */
export function psQuote(value: string): string {
  // A control character (a line break above all) would end the command the person pastes.
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
  if (/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(value)) throw new Error('a control character cannot go into a pasted command');
  let out = '';
  for (const ch of value) out += (POWERSHELL_SINGLE_QUOTES as readonly string[]).includes(ch) ? ch + ch : ch;
  return `'${out}'`;
}

/** OPATH string value: OPATH quotes with `'`, doubled inside (quoted for OPATH first, then for PowerShell). */
function opathString(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

export interface MailboxScopeTarget {
  environmentId: string;
  appId: string;
  servicePrincipalId: string;
  scope: MailboxScope;
}

/**
 * The commands for an Exchange administrator. They name the app and its service principal by id, the
 * scope by a name derived from the environment id, and the mailboxes by their addresses (validated at
 * the edge to letters, digits and `._%+-`, and quoted for every quote character PowerShell knows). The
 * request's free-text display name never goes into them.
 */
export function mailboxScopeCommands(input: MailboxScopeTarget): string[] {
  const ps = psQuote;
  const scopeName = mailboxScopeNameFor(input.environmentId);
  const group = input.scope.group;
  const filter = group
    ? `"MemberOfGroup -eq '$($group.DistinguishedName)'"`
    : ps((input.scope.mailboxes ?? []).map((m) => `PrimarySmtpAddress -eq ${opathString(m)}`).join(' -or '));
  return [
    '# Exchange Online PowerShell (Connect-ExchangeOnline as an Exchange administrator)',
    `New-ServicePrincipal -AppId ${ps(input.appId)} -ObjectId ${ps(input.servicePrincipalId)} -DisplayName ${ps(uniqueNameFor(input.environmentId))}`,
    ...(group ? [`$group = Get-DistributionGroup -Identity ${ps(group)}`] : []),
    `New-ManagementScope -Name ${ps(scopeName)} -RecipientRestrictionFilter ${filter}`,
    `New-ManagementRoleAssignment -App ${ps(input.appId)} -Role 'Application Mail.Send' -CustomResourceScope ${ps(scopeName)}`,
    '# Microsoft Graph PowerShell (Connect-MgGraph -Scopes AppRoleAssignment.ReadWrite.All): remove the tenant-wide Mail.Send grant, which would override the scope',
    `Get-MgServicePrincipalAppRoleAssignment -ServicePrincipalId ${ps(input.servicePrincipalId)} | Where-Object AppRoleId -eq ${ps(MAIL_SEND_ROLE_ID)} | ForEach-Object { Remove-MgServicePrincipalAppRoleAssignment -ServicePrincipalId ${ps(input.servicePrincipalId)} -AppRoleAssignmentId $_.Id }`,
    `# Check: Test-ServicePrincipalAuthorization -Identity ${ps(input.appId)} -Resource <mailbox>`,
  ];
}

/**
 * A waiting mailbox-scope run's instructions as a person reads them: the steps from the run's status and
 * the commands composed from its input (the status carries the ids, never the list).
 */
export function composeMailboxScopeInstructions(stored: MailboxScopeInstructions, environmentId: string, scope: MailboxScope | undefined): MailboxScopeInstructions {
  if (stored.commands || !scope) return stored;
  return { ...stored, commands: mailboxScopeCommands({ environmentId, appId: stored.appId, servicePrincipalId: stored.servicePrincipalId, scope }) };
}
