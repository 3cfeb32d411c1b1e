/**
 * A response schema as fast-json-stringify is given it: the same JSON for every value the schema
 * admits, without the unions that make it compile ajv validators.
 *
 * Why: fast-json-stringify picks an `anyOf` branch by validating the value against each branch
 * with ajv, compiled on the first reply. Our schemas' unions are TypeBox's `T | null` and unions of
 * string literals, and compiling their validators made the first `GET /v1/status` take ~0.5 s.
 * Rewritten as `nullable` (which fast-json-stringify serializes itself) and as a string `enum`,
 * they serialize to the same bytes for every valid value; only a value the schema does not admit,
 * which fast-json-stringify would refuse, is written instead. Request validation is unchanged.
 */

type Schema = Record<string, unknown>;

function isSchema(value: unknown): value is Schema {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `{ type: 'null' }` and nothing else. */
function isNullSchema(schema: unknown): boolean {
  return isSchema(schema) && schema['type'] === 'null' && Object.keys(schema).length === 1;
}

/** A string literal as TypeBox writes it: `{ const: 'x', type: 'string' }`. */
function isStringLiteral(schema: unknown): schema is { const: string; type: 'string' } {
  return isSchema(schema) && schema['type'] === 'string' && typeof schema['const'] === 'string' && Object.keys(schema).length === 2;
}

/** The union rewritten, or null when it is not one of the two shapes. */
function simplifyUnion(options: readonly unknown[], rest: Schema): Schema | null {
  if (options.length === 2) {
    const [a, b] = options;
    const other = isNullSchema(b) ? a : isNullSchema(a) ? b : undefined;
    if (isSchema(other) && typeof other['type'] === 'string' && other['type'] !== 'null' && other['anyOf'] === undefined) {
      return { ...rest, ...other, nullable: true };
    }
  }
  if (options.length > 0 && options.every(isStringLiteral)) {
    return { ...rest, type: 'string', enum: options.map((o) => o.const) };
  }
  return null;
}

/** `schema` with its `T | null` and string-literal unions rewritten (a copy; the input is untouched). */
export function replySchema(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(replySchema);
  if (!isSchema(schema)) return schema;
  const out: Schema = {};
  for (const [key, value] of Object.entries(schema)) out[key] = replySchema(value);
  const { anyOf, ...rest } = out;
  return Array.isArray(anyOf) ? simplifyUnion(anyOf, rest) ?? out : out;
}
