/**
 * Names of the orchestrations: public contracts (run status shows them, instance ids build on them),
 * kept in a module of their own so registering the orchestrations loads nothing else.
 */
export const SETUP_ORCHESTRATION = 'setupEnvironment';
export const ROTATION_ORCHESTRATION = 'rotateCredential';
