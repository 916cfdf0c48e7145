/** The forms a secret takes in what Relay writes (leak-scan.mjs). */
export function forms(secret: string): string[];
export default function scan(): void;
