/**
 * docs/errors.md and the catalog in shared/errors.ts must agree both ways: one `## CODE` section
 * per code, no section for a code that does not exist, and each section quoting its HTTP status
 * and its `next` text exactly.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import { ERROR_CATALOG } from '../../shared/errors.js';

// dist/test/unit/errors-doc.test.js → the repository root is three levels up.
const ERRORS_DOC = new URL('../../../docs/errors.md', import.meta.url);

/** The `## BTFD_ERR_…` sections of the doc: code → section text. */
function sections(markdown: string): Map<string, string> {
  const found = new Map<string, string>();
  const parts = markdown.split(/^## /m).slice(1);
  for (const part of parts) {
    const newline = part.indexOf('\n');
    const heading = (newline < 0 ? part : part.slice(0, newline)).trim();
    assert.ok(!found.has(heading), `docs/errors.md has two sections for ${heading}`);
    found.set(heading, newline < 0 ? '' : part.slice(newline + 1));
  }
  return found;
}

test('every catalog code has a section in docs/errors.md, and every section names a catalog code', () => {
  const doc = sections(fs.readFileSync(ERRORS_DOC, 'utf8'));
  const codes = Object.keys(ERROR_CATALOG);
  const missing = codes.filter((code) => !doc.has(code));
  const extra = [...doc.keys()].filter((heading) => !Object.hasOwn(ERROR_CATALOG, heading));
  assert.deepEqual(missing, [], 'codes without a section in docs/errors.md');
  assert.deepEqual(extra, [], 'sections in docs/errors.md for codes not in shared/errors.ts');
});

test('each section states its HTTP status and quotes its next text exactly', () => {
  const doc = sections(fs.readFileSync(ERRORS_DOC, 'utf8'));
  for (const [code, spec] of Object.entries(ERROR_CATALOG)) {
    const body = doc.get(code) ?? '';
    assert.match(body, new RegExp(`\\bHTTP ${spec.status}\\b`), `${code}: HTTP status`);
    assert.ok(body.includes(`Next: ${spec.next}`), `${code}: the next text differs from shared/errors.ts`);
    const meaning = body.replace(`Next: ${spec.next}`, '').replace(/HTTP \d+\./, '').trim();
    assert.ok(meaning.length > 20, `${code}: say what the code means`);
  }
});
