/**
 * The clients layer's public surface: typed wrappers over the official SDKs (Entra apps through
 * Graph, the credential vault, F&O email settings), the host allowlist, and the one error taxonomy
 * they all throw. Activities import from here only.
 */
export * from './errors';
export * from './hostAllowlist';
export * from './entraApplications';
export * from './credentialVault';
export * from './finOpsEmailSettings';
export * from './applicationSession';
export * from './signInLog';
