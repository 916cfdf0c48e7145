export * from './errors.js';
export * from './context.js';
export * from './operation.js';
export * from './inputs/spec.js';
export * from './log/logger.js';
export * from './log/terminal.js';
