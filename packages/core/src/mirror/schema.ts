import { isAlias, isMap, isScalar, isSeq, visit, type Alias, type Document, type LineCounter, type Node as YamlNode } from 'yaml';
import { DEFAULTS } from '../defaults.js';
import { httpUrlProblem } from '../inputs/url.js';

/**
 * A small schema language for YAML files Relay reads. One declaration gives
 * three things that must never drift apart: the TypeScript type (`Infer`),
 * the JSON Schema shipped for editors and CI (`toJsonSchema`), and the
 * validator that turns a YAML document into that type, refusing in one line
 * that names the file, the line and the field (`validate`).
 */
export type Schema = StringSchema | BooleanSchema | IntegerSchema | ArraySchema | ObjectSchema | MapSchema;

export interface StringSchema {
  type: 'string';
  description?: string;
  /** An ECMAScript regular expression (also valid in JSON Schema). */
  pattern?: string;
  /** Said instead of the pattern in errors: "a lowercase repository path". */
  expected?: string;
  enum?: readonly string[];
  minLength?: number;
  /** `http-url`: an http(s) URL whose host and port a request can use (port 1 to 65535), checked once here. */
  format?: 'http-url';
}
export interface BooleanSchema {
  type: 'boolean';
  description?: string;
}
export interface IntegerSchema {
  type: 'integer';
  description?: string;
  minimum?: number;
  maximum?: number;
}
export interface ArraySchema {
  type: 'array';
  description?: string;
  items: Schema;
  minItems?: number;
}
export interface Property {
  schema: Schema;
  required?: boolean;
}
export interface ObjectSchema {
  type: 'object';
  description?: string;
  properties: Record<string, Property>;
  /** Keys matching this are accepted and ignored (`x-…` keys for YAML anchors). */
  ignoredKeys?: string;
}
export interface MapSchema {
  type: 'map';
  description?: string;
  /** Every key must match (JSON Schema propertyNames). */
  keyPattern: string;
  keyExpected: string;
  values: Schema;
}

type RequiredKeys<P> = { [K in keyof P]: P[K] extends { required: true } ? K : never }[keyof P];
type OptionalKeys<P> = Exclude<keyof P, RequiredKeys<P>>;
type Simplify<T> = { [K in keyof T]: T[K] };

/** The TypeScript type a schema describes. */
export type Infer<S> = S extends { type: 'string'; enum: readonly (infer E)[] }
  ? E
  : S extends { type: 'string' }
    ? string
    : S extends { type: 'boolean' }
      ? boolean
      : S extends { type: 'integer' }
        ? number
        : S extends { type: 'array'; items: infer I }
          ? Infer<I>[]
          : S extends { type: 'map'; values: infer V }
            ? Record<string, Infer<V>>
            : S extends { type: 'object'; properties: infer P }
              ? Simplify<
                  { -readonly [K in RequiredKeys<P>]: P[K] extends { schema: infer T } ? Infer<T> : never } & {
                    -readonly [K in OptionalKeys<P>]?: P[K] extends { schema: infer T } ? Infer<T> : never;
                  }
                >
              : never;

/** Identity with inference: keeps the literal types the declaration needs for `Infer`. */
export function declare<const S extends Schema>(s: S): S {
  return s;
}

// ---------------------------------------------------------------------------
// JSON Schema

type Json = null | boolean | number | string | undefined | Json[] | { [k: string]: Json };

function toJson(s: Schema): { [k: string]: Json } {
  const d: { description?: string } = {};
  if (s.description) d.description = s.description;
  switch (s.type) {
    case 'string':
      return {
        type: 'string',
        ...d,
        ...(s.enum && { enum: [...s.enum] }),
        ...(s.pattern !== undefined && { pattern: s.pattern }),
        ...(s.minLength !== undefined && { minLength: s.minLength }),
      };
    case 'boolean':
      return { type: 'boolean', ...d };
    case 'integer':
      return {
        type: 'integer',
        ...d,
        ...(s.minimum !== undefined && { minimum: s.minimum }),
        ...(s.maximum !== undefined && { maximum: s.maximum }),
      };
    case 'array':
      return { type: 'array', ...d, items: toJson(s.items), ...(s.minItems !== undefined && { minItems: s.minItems }) };
    case 'map':
      return { type: 'object', ...d, propertyNames: { pattern: s.keyPattern }, additionalProperties: toJson(s.values) };
    case 'object': {
      const required = Object.entries(s.properties)
        .filter(([, p]) => p.required)
        .map(([k]) => k);
      return {
        type: 'object',
        ...d,
        properties: Object.fromEntries(Object.entries(s.properties).map(([k, p]) => [k, toJson(p.schema)])),
        ...(required.length > 0 && { required }),
        ...(s.ignoredKeys && { patternProperties: { [s.ignoredKeys]: {} } }),
        additionalProperties: false,
      };
    }
  }
}

/** A JSON Schema (draft 2020-12) document for a root schema. */
export function toJsonSchema(root: Schema, meta: { id: string; title: string }): Record<string, Json> {
  return { $schema: 'https://json-schema.org/draft/2020-12/schema', $id: meta.id, title: meta.title, ...toJson(root) };
}

// ---------------------------------------------------------------------------
// Validation of a YAML document, with positions

/** A refusal about one field of one file: `file:line: field: message`. */
export class FieldError extends Error {
  constructor(
    readonly line: number,
    readonly field: string,
    readonly detail: string,
  ) {
    super(`${line}: ${field}: ${detail}`);
  }
}

/** Where each validated field sits in the file, for checks made after validation (unknown tier, bad template). */
export class Positions {
  private readonly lines = new Map<string, number>();
  constructor(private readonly counter: LineCounter) {}
  record(path: string, node: YamlNode | null | undefined, fallback: number): number {
    const line = node?.range ? this.counter.linePos(node.range[0]).line : fallback;
    this.lines.set(path, line);
    return line;
  }
  /** The line of `path`, else of its nearest recorded parent. */
  line(path: string): number {
    for (let p = path; ;) {
      const l = this.lines.get(p);
      if (l !== undefined) return l;
      const cut = Math.max(p.lastIndexOf('.'), p.lastIndexOf('['));
      if (cut <= 0) return this.lines.get('') ?? 1;
      p = p.slice(0, cut);
    }
  }
  /** A FieldError at `path`. */
  error(path: string, detail: string): FieldError {
    return new FieldError(this.line(path), path || '(top level)', detail);
  }
}

const join = (parent: string, key: string): string => (parent ? `${parent}.${key}` : key);

function describeValue(v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return `"${v.length > 80 ? v.slice(0, 80) + '…' : v}"`;
  return `${typeof v} ${String(v)}`;
}

/**
 * Walks `doc` against `schema`, returning the typed value. The first problem
 * throws a FieldError naming the field's path and line.
 */
export function validate<S extends Schema>(schema: S, doc: Document, counter: LineCounter): { value: Infer<S>; positions: Positions } {
  const positions = new Positions(counter);
  const targets = aliasTargets(doc);
  /** Collections being walked: an alias naming one of them would never end. */
  const open = new Set<unknown>();
  /** Values reached through aliases so far: bounded, so a file of nested aliases cannot expand without end. */
  let aliased = 0;
  let inAlias = 0;
  const resolve = (n: unknown, path: string, line: number): unknown => {
    if (!isAlias(n)) return n;
    const target = targets.get(n);
    if (target === undefined) throw new FieldError(line, path || '(top level)', `alias *${n.source} names no anchor before it`);
    if (open.has(target)) throw new FieldError(line, path || '(top level)', `alias *${n.source} refers to a value that contains it`);
    return target;
  };

  /** `keyLine`: where the key of a mapping value is; a block collection is named there, not at its first entry. */
  const walk = (s: Schema, raw: unknown, path: string, parentLine: number, keyLine?: number): unknown => {
    const viaAlias = isAlias(raw);
    if (viaAlias) inAlias++;
    try {
      const node = resolve(raw, path, keyLine ?? parentLine) as YamlNode | null | undefined;
      if (inAlias > 0 && ++aliased > DEFAULTS.yamlMaxAliasedValues) {
        throw new FieldError(
          keyLine ?? parentLine,
          path || '(top level)',
          `aliases expand to more than ${DEFAULTS.yamlMaxAliasedValues} values; write the values out or use fewer aliases`,
        );
      }
      if (isMap(node) || isSeq(node)) open.add(node);
      try {
        return walkNode(s, node, path, parentLine, keyLine);
      } finally {
        open.delete(node);
      }
    } finally {
      if (viaAlias) inAlias--;
    }
  };

  const walkNode = (s: Schema, node: YamlNode | null | undefined, path: string, parentLine: number, keyLine?: number): unknown => {
    const line =
      keyLine !== undefined && (isMap(node) || isSeq(node))
        ? positions.record(path, undefined, keyLine)
        : positions.record(path, node, parentLine);
    const fail = (detail: string): never => {
      throw new FieldError(line, path || '(top level)', detail);
    };
    const scalar = isScalar(node) ? node.value : undefined;
    switch (s.type) {
      case 'string': {
        // A field declared a string is the text written, whatever YAML would make of it: `version: 1.10` is
        // "1.10", not the number 1.1; `tag: 0123` is "0123".
        const written =
          isScalar(node) && node.type === 'PLAIN' && (typeof scalar === 'number' || typeof scalar === 'boolean') ? node.source : undefined;
        if (!isScalar(node) || (typeof scalar !== 'string' && typeof written !== 'string')) {
          fail(`expected ${s.expected ?? 'a string'}, got ${describeValue(isMap(node) ? {} : isSeq(node) ? [] : scalar)}`);
        }
        const v = typeof scalar === 'string' ? scalar : (written as string);
        if (s.enum && !s.enum.includes(v)) fail(`expected one of ${s.enum.join(', ')}, got ${describeValue(v)}`);
        if (s.minLength !== undefined && v.length < s.minLength) fail(`expected ${s.expected ?? 'a non-empty string'}, got ""`);
        if (s.pattern !== undefined && !new RegExp(s.pattern, 'u').test(v))
          fail(`expected ${s.expected ?? `/${s.pattern}/`}, got ${describeValue(v)}`);
        const why = s.format === 'http-url' ? httpUrlProblem(v) : undefined;
        if (why) fail(`expected ${s.expected ?? 'an http(s) URL'}, got ${describeValue(v)} (${why})`);
        return v;
      }
      case 'boolean':
        if (typeof scalar !== 'boolean') fail(`expected true or false, got ${describeValue(scalar)}`);
        return scalar;
      case 'integer':
        if (typeof scalar !== 'number' || !Number.isInteger(scalar)) fail(`expected an integer, got ${describeValue(scalar)}`);
        if ((s.minimum !== undefined && (scalar as number) < s.minimum) || (s.maximum !== undefined && (scalar as number) > s.maximum))
          fail(`expected an integer from ${s.minimum ?? '-∞'} to ${s.maximum ?? '∞'}, got ${String(scalar)}`);
        return scalar;
      case 'array': {
        if (!isSeq(node)) fail(`expected a list, got ${describeValue(isMap(node) ? {} : scalar)}`);
        const items = (node as unknown as { items: unknown[] }).items;
        if (s.minItems !== undefined && items.length < s.minItems) fail(`expected at least ${s.minItems} item${s.minItems > 1 ? 's' : ''}`);
        return items.map((item, i) => walk(s.items, item, `${path}[${i}]`, line));
      }
      case 'map':
      case 'object': {
        if (!isMap(node)) fail(`expected a mapping, got ${describeValue(isSeq(node) ? [] : scalar)}`);
        const out: Record<string, unknown> = {};
        for (const pair of (node as unknown as { items: { key: unknown; value: unknown }[] }).items) {
          const keyNode = resolve(pair.key, path, line) as YamlNode | null;
          const key = isScalar(keyNode) ? keyNode.value : undefined;
          const keyLine = positions.record(`${path}#key`, keyNode, line);
          if (typeof key !== 'string')
            throw new FieldError(keyLine, path || '(top level)', `keys must be strings, got ${describeValue(key)}`);
          const at = join(path, key);
          if (s.type === 'map') {
            if (!new RegExp(s.keyPattern, 'u').test(key)) throw new FieldError(keyLine, at, `expected ${s.keyExpected} as the key`);
            setOwn(out, key, walk(s.values, pair.value, at, keyLine, keyLine));
            continue;
          }
          // own properties only: a key named toString or __proto__ is an unknown field, not the prototype's
          const prop = Object.hasOwn(s.properties, key) ? s.properties[key] : undefined;
          if (!prop) {
            if (s.ignoredKeys && new RegExp(s.ignoredKeys, 'u').test(key)) continue;
            const known = Object.keys(s.properties);
            const near = known.find((k) => closeEnough(k, key));
            throw new FieldError(
              keyLine,
              at,
              `unknown field${near ? ` (did you mean '${near}'?)` : ''}; known fields: ${known.join(', ')}`,
            );
          }
          setOwn(out, key, walk(prop.schema, pair.value, at, keyLine, keyLine));
        }
        if (s.type === 'object') {
          for (const [k, p] of Object.entries(s.properties))
            if (p.required && !Object.hasOwn(out, k)) fail(`missing required field '${k}'`);
        }
        return out;
      }
    }
  };

  const value: unknown = walk(schema, doc.contents, '', 1);
  return { value: value as Infer<S>, positions };
}

/**
 * Each alias's node, in one pass over the document: the last node anchored
 * with its name before it (YAML 1.2). yaml's own Alias.resolve walks the
 * whole document for every alias, so a file of many aliases took minutes.
 */
function aliasTargets(doc: Document): Map<Alias, unknown> {
  const anchors = new Map<string, unknown>();
  const out = new Map<Alias, unknown>();
  visit(doc, {
    Node: (_key, node) => {
      if (isAlias(node)) {
        if (anchors.has(node.source)) out.set(node, anchors.get(node.source));
      } else if (node.anchor) anchors.set(node.anchor, node);
    },
  });
  return out;
}

/** One edit apart (a typo), or the same ignoring case, dashes and underscores. */
function closeEnough(a: string, b: string): boolean {
  const norm = (s: string): string => s.toLowerCase().replace(/[-_]/g, '');
  if (norm(a) === norm(b)) return true;
  if (Math.abs(a.length - b.length) > 1) return false;
  let i = 0;
  while (i < a.length && a[i] === b[i]) i++;
  const swapped = a.length === b.length && a[i] === b[i + 1] && a[i + 1] === b[i] && a.slice(i + 2) === b.slice(i + 2);
  return swapped || a.slice(i + 1) === b.slice(i + 1) || a.slice(i) === b.slice(i + 1) || a.slice(i + 1) === b.slice(i);
}

/** Sets an own property whatever its name (`__proto__` included), so a mirror file cannot reach a prototype. */
function setOwn(o: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(o, key, { value, enumerable: true, writable: true, configurable: true });
}
