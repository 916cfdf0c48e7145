export * from './client.js';
export * from './limiter.js';
export * from './retry.js';
