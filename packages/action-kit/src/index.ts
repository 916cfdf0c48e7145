export { runAction } from './run-action.js';
export { ActionsLogger } from './logger.js';
export { renderActionYml, renderInputsTable } from './action-yml.js';
