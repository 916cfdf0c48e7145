/** One challenge from WWW-Authenticate, scheme lowercased, param names lowercased. */
export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/**
 * Parses RFC 7235 challenges, including several on one line (quay sends
 * `Basic realm="…", Bearer realm="…",service="…"`) and quoted commas.
 */
export function parseChallenges(header: string | undefined): Challenge[] {
  const out: Challenge[] = [];
  if (!header) return out;
  const re = /\s*,?\s*([A-Za-z0-9!#$%&'*+.^_`|~-]+)(?:\s*=\s*("(?:[^"\\]|\\.)*"|[^\s,]*))?/g;
  let current: Challenge | undefined;
  for (let m = re.exec(header); m && m[0] !== ''; m = re.exec(header)) {
    const [, token, value] = m;
    if (value === undefined) {
      current = { scheme: (token as string).toLowerCase(), params: {} };
      out.push(current);
    } else if (current) {
      current.params[(token as string).toLowerCase()] = value.startsWith('"') ? value.slice(1, -1).replace(/\\(.)/g, '$1') : value;
    }
  }
  return out;
}

/** Bearer wins over Basic when both are offered: it is what registries mean for scoped tokens. */
export function pickChallenge(challenges: Challenge[]): Challenge | undefined {
  return challenges.find((c) => c.scheme === 'bearer') ?? challenges.find((c) => c.scheme === 'basic');
}
