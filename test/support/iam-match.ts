/** IAM's wildcard match, as in ARNs and StringLike conditions: `*` any run of characters, `?` exactly one. */
export const iamWildcard = (pattern: string, value: string): boolean =>
  new RegExp(
    '^' +
      pattern
        .replace(/[.+^${}()|[\]\\]/g, '\\$&')
        .replace(/\*/g, '.*')
        .replace(/\?/g, '.') +
      '$',
  ).test(value);
