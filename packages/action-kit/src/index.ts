export { runAction } from './run-action.js';
export { ActionsLogger } from './logger.js';
export { actionMain, renderActionYml, renderInputsTable } from './docs.js';
