/** Relay's version, as `relay --version` and User-Agent say it; scripts/release bumps it with package.json (a unit test keeps them equal). */
export const VERSION = '0.1.0';
