export * from './record.js';
export * from './write.js';
export * from './read.js';
export * from './chain.js';
