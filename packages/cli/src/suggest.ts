/** Edit distance (insertions, deletions, substitutions, adjacent swaps), for did-you-mean. */
function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/** The closest candidate when it is close enough to be what was meant (as git and cargo suggest). */
export function didYouMean(given: string, candidates: readonly string[]): string | undefined {
  let best: { c: string; d: number } | undefined;
  for (const c of candidates) {
    const d = c.startsWith(given) && given.length >= 3 ? 1 : distance(given, c);
    if (!best || d < best.d) best = { c, d };
  }
  return best && best.d <= Math.max(1, Math.floor(given.length / 3)) ? best.c : undefined;
}

/** ` (did you mean 'x'?)`, or nothing. */
export function suggestion(given: string, candidates: readonly string[], prefix = ''): string {
  const m = didYouMean(given, candidates);
  return m ? `; did you mean '${prefix}${m}'?` : '';
}
