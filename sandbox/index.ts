/**
 * The sandbox's public surface: start an emulated cloud (Entra, Graph, Key Vault, F&O) in-process and
 * the types that describe it.
 */
export { startSandbox } from './server';
export type { RunningSandbox, SandboxEndpoints, SandboxPorts, StartSandboxOptions } from './server';
export { ensureCa, issueServerCert, defaultCaDir } from './ca';
export type { CertificateAuthority, ServerCertificate } from './ca';
export { finopsView, parseIsoDuration, stateView } from './control';
export { FinOpsMail, BATCH_EMAIL_PROVIDERS } from './finops-mail';
export type { BatchEmailProvider, EmailParametersForm, FinOpsMailOptions } from './finops-mail';
export { grantAdminConsent, revokeAdminConsent } from './entra';
export { SandboxState, GRAPH_APP_ID, GRAPH_APP_ROLES, MAIL_SEND_ROLE_ID, USER_READ_SCOPE_ID } from './state';
export type { SandboxOptions, SandboxServiceUrls, SeededIdentity } from './state';
export { TenantDirectory, TENANT_APP_MANAGEMENT_POLICY_ID } from './tenants';
export type { SignInRecord, AppManagementPolicyRecord, TenantAppManagementPolicyRecord, PasswordCredentialConfiguration } from './tenants';
export { TOKEN_EXCHANGE_AUDIENCE, JWT_BEARER_ASSERTION_TYPE } from './federation';
export { PARTNER_OPERATOR_UNIQUE_NAME } from './control-identity';
export { DEFAULT_ENVIRONMENT_IDS, DEFAULT_MANAGED_IDENTITY_ROLES, SENDER_MAILBOX, ADMIN_MAILBOX, EMAIL_PARAMETERS_ID } from './seed';
export type * from './types';
