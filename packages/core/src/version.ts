/** Relay's version, as `relay --version` and User-Agent say it; scripts/release bumps it with package.json (a unit test keeps them equal). */
export const VERSION = '0.1.0';

/** Every HTTP request and AWS SDK call says who it is, so registry and S3 logs can tell Relay's traffic apart. */
export const USER_AGENT = `relay/${VERSION}`;
