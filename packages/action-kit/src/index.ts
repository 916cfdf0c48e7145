export { runAction } from './run-action.js';
export { ActionsLogger } from './logger.js';
export { renderActionYml } from './action-yml.js';
