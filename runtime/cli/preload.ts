/**
 * Imported first by the command line: makes `@azure/functions-core` resolvable before any product
 * module loads `@azure/functions` (through `durable-functions`), which would otherwise remember that
 * no Functions runtime is present and register nothing.
 */
import { installFunctionsCoreHook } from '../registry';

installFunctionsCoreHook();
