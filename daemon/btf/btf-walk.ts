/**
 * Visitors over one type record's references, the way libbpf's btf_type_visit_type_ids and
 * btf_type_visit_str_offs walk them: every field that holds a type id, every field that holds a
 * string offset, with the byte position of each so a caller can rewrite it in place.
 */
import { BTF_KIND, type Btf } from './btf-reader.js';

/** Called with the value and the byte position (in btf.bytes) of one u32 field. */
export type FieldVisitor = (value: number, at: number) => void;

function vlenOf(btf: Btf, index: number): number {
  return btf.bytes.readUInt32LE(btf.recordOffsets[index]! + 4) & 0xffff;
}

/** Every type-id field of own type `index` (0-based among btf's own types). */
export function visitTypeIds(btf: Btf, index: number, visit: FieldVisitor): void {
  const p = btf.recordOffsets[index]!;
  const bytes = btf.bytes;
  const field = (at: number): void => visit(bytes.readUInt32LE(at), at);
  const vlen = vlenOf(btf, index);
  switch (btf.kinds[index]) {
    case BTF_KIND.PTR: case BTF_KIND.TYPEDEF: case BTF_KIND.VOLATILE: case BTF_KIND.CONST:
    case BTF_KIND.RESTRICT: case BTF_KIND.FUNC: case BTF_KIND.VAR: case BTF_KIND.DECL_TAG: case BTF_KIND.TYPE_TAG:
      field(p + 8);
      break;
    case BTF_KIND.ARRAY:
      field(p + 12);
      field(p + 16);
      break;
    case BTF_KIND.STRUCT: case BTF_KIND.UNION:
      for (let i = 0; i < vlen; i++) field(p + 12 + i * 12 + 4);
      break;
    case BTF_KIND.FUNC_PROTO:
      field(p + 8);
      for (let i = 0; i < vlen; i++) field(p + 12 + i * 8 + 4);
      break;
    case BTF_KIND.DATASEC:
      for (let i = 0; i < vlen; i++) field(p + 12 + i * 12);
      break;
    default:
      // INT, ENUM, ENUM64, FWD, FLOAT: no type references.
      break;
  }
}

/** Every string-offset field of own type `index`: its name, then member/enumerator/param names. */
export function visitStringOffsets(btf: Btf, index: number, visit: FieldVisitor): void {
  const p = btf.recordOffsets[index]!;
  const bytes = btf.bytes;
  const field = (at: number): void => visit(bytes.readUInt32LE(at), at);
  field(p);
  const vlen = vlenOf(btf, index);
  switch (btf.kinds[index]) {
    case BTF_KIND.STRUCT: case BTF_KIND.UNION: case BTF_KIND.ENUM64:
      for (let i = 0; i < vlen; i++) field(p + 12 + i * 12);
      break;
    case BTF_KIND.ENUM: case BTF_KIND.FUNC_PROTO:
      for (let i = 0; i < vlen; i++) field(p + 12 + i * 8);
      break;
    default:
      break;
  }
}
