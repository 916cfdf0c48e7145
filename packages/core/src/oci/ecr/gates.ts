import { GateError, RemoteError, badInput } from '../../errors.js';
import type { Logger } from '../../log/logger.js';
import type { SourceGraph } from '../copy/graph.js';
import { ecrRegistry } from '../ref/hosts.js';
import { isIndexType, parseManifest } from '../ref/media.js';
import { awsErrorText, ecrSdkClient, loadEcrSdk } from './client.js';
import type { AwsConfig } from './client.js';

export const SEVERITIES = ['none', 'informational', 'low', 'medium', 'high', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];
const RANK: Record<string, number> = { INFORMATIONAL: 1, LOW: 2, MEDIUM: 3, HIGH: 4, CRITICAL: 5 };

/** The image manifests ECR scans: the root, or an index's platform images (not attestation entries). */
export function scannedImages(g: SourceGraph): { digest: string; label: string }[] {
  if (!isIndexType(g.root.mediaType)) return [{ digest: g.root.digest, label: g.root.digest }];
  return parseManifest(g.root)
    .manifests.filter((d) => !isIndexType(d.mediaType) && d.platform?.os !== 'unknown')
    .map((d) => ({
      digest: d.digest,
      label: `${d.digest} (${[d.platform?.os, d.platform?.architecture, d.platform?.variant].filter(Boolean).join('/')})`,
    }));
}

/**
 * Fails when any scanned image has findings at or above `max` (ECR
 * DescribeImageScanFindings), or has no finished scan to judge by.
 */
export async function scanGate(
  host: string,
  repository: string,
  g: SourceGraph,
  max: Severity,
  aws: AwsConfig,
  log: Logger,
): Promise<string[]> {
  if (max === 'none') return [];
  const reg = ecrRegistry(host);
  if (!reg) badInput('max-severity', `'none' for a source outside ECR (${host} is not an ECR registry)`, max);
  const client = await ecrSdkClient('ecr', reg.region, aws);
  const { DescribeImageScanFindingsCommand } = await loadEcrSdk();
  const threshold = RANK[max.toUpperCase()] as number;
  const summary: string[] = [];
  for (const img of scannedImages(g)) {
    let out;
    try {
      out = await client.send(
        new DescribeImageScanFindingsCommand({
          registryId: reg.account,
          repositoryName: repository,
          imageId: { imageDigest: img.digest },
          maxResults: 100,
        }),
      );
    } catch (err) {
      const e = err as Error;
      if (e.name === 'ScanNotFoundException')
        throw new GateError(`scan gate: ${repository}@${img.label} has no scan; enable scan on push or start one`);
      throw new RemoteError(`scan gate: DescribeImageScanFindings for ${repository}@${img.digest} failed: ${awsErrorText(e)}`);
    }
    const status = out.imageScanStatus?.status;
    if (status !== 'COMPLETE' && status !== 'ACTIVE') {
      throw new GateError(
        `scan gate: the scan of ${repository}@${img.label} is ${status ?? 'unknown'}${out.imageScanStatus?.description ? ` (${out.imageScanStatus.description})` : ''}, not complete`,
      );
    }
    const counts = out.imageScanFindings?.findingSeverityCounts ?? {};
    const over = Object.entries(counts).filter(([sev, n]) => (RANK[sev] ?? 0) >= threshold && (n ?? 0) > 0);
    summary.push(
      `${img.label}: ${
        Object.entries(counts)
          .map(([s, n]) => `${n} ${s}`)
          .join(', ') || 'no findings'
      }`,
    );
    if (over.length) {
      const findings = [...(out.imageScanFindings?.findings ?? []), ...(out.imageScanFindings?.enhancedFindings ?? [])] as {
        name?: string;
        title?: string;
        severity?: string;
      }[];
      const example = findings.find((f) => (RANK[f.severity ?? ''] ?? 0) >= threshold);
      const name = example?.name ?? example?.title;
      throw new GateError(
        `scan gate: ${repository}@${img.label} has ${over.map(([s, n]) => `${n} ${s}`).join(', ')} finding(s) at or above '${max}'${name ? ` (e.g. ${name})` : ''}`,
      );
    }
    log.info(
      `scan ${img.label}: ${
        Object.entries(counts)
          .map(([s, n]) => `${n} ${s}`)
          .join(', ') || 'no findings'
      }`,
    );
  }
  return summary;
}
