// SPDX-License-Identifier: GPL-2.0
/*
 * Fixture "module" for btfd's .BTF_ids tests: compiled with gcc -c (ET_REL,
 * like a .ko), given split BTF against base.o by pahole, then resolved by the
 * kernel's real tools/bpf/resolve_btfids. See README.md and make-fixture.sh.
 */
#include "btf_ids_fixture.h"

#define __noinline __attribute__((noinline))

/* Same definitions as base.c: pahole dedups them into base ids. */
struct base_s { int a; long b; };
union base_u { int i; unsigned char c[8]; };
typedef unsigned long base_t;
extern int base_func(struct base_s *s, union base_u *u, base_t t);

/* The module's own types. */
struct mod_s { int m; struct base_s *bs; };
union mod_u { long l; void *p; };
typedef struct mod_s mod_t;

/* Same name as base.c's struct dup_s, other layout: a second STRUCT "dup_s". */
struct dup_s { long in_module; char tag; };

/* A struct and a typedef with one name (looked up per kind). */
struct samename { int s; };
typedef struct samename samename;

/* Only ever a pointer target here, so BTF has a FWD, not a STRUCT. */
struct fwd_only;

__noinline int mod_func_a(struct mod_s *s)
{
	return s->m + s->bs->a;
}

__noinline long mod_func_b(union mod_u *u)
{
	return u->l;
}

__noinline int mod_func_c(mod_t *t, struct fwd_only *f)
{
	return t->m + (f != 0);
}

__noinline long mod_func_d(struct dup_s *d, samename *sn, struct samename *s2)
{
	return d->in_module + d->tag + sn->s + s2->s;
}

/* Same name as base.c's dup_func, other prototype: a second FUNC "dup_func". */
__noinline long dup_func(long a, long b)
{
	return a * b;
}

/* Plain list: every kind, base and module names, unresolved names, a name
 * listed twice, an unused slot, names with two candidate ids. */
BTF_ID_LIST(fixture_list)
BTF_ID(struct, base_s)
BTF_ID(struct, mod_s)
BTF_ID(union, base_u)
BTF_ID(union, mod_u)
BTF_ID(typedef, base_t)
BTF_ID(typedef, mod_t)
BTF_ID(func, base_func)
BTF_ID(func, mod_func_a)
BTF_ID(struct, no_such_struct)
BTF_ID(func, mod_func_a)
BTF_ID_UNUSED
BTF_ID(struct, dup_s)
BTF_ID(func, dup_func)
BTF_ID(struct, fwd_only)
BTF_ID(typedef, samename)
BTF_ID(struct, samename)
BTF_ID(union, base_s)

/* Sorted set, members in unsorted source order. */
BTF_SET_START(fixture_set)
BTF_ID(func, mod_func_c)
BTF_ID(func, base_func)
BTF_ID(func, no_such_func)
BTF_ID(func, mod_func_a)
BTF_ID(struct, mod_s)
BTF_SET_END(fixture_set)

/* 6.1-style set8: header flags 0, mixed pair flags. */
BTF_SET8_START(fixture_set8)
BTF_ID_FLAGS(func, mod_func_d, KF_RELEASE)
BTF_ID_FLAGS(func, mod_func_a, KF_ACQUIRE | KF_RET_NULL)
BTF_ID_FLAGS(func, base_func)
BTF_ID_FLAGS(func, mod_func_b, KF_TRUSTED_ARGS)
BTF_ID_FLAGS(func, no_such_kfunc, KF_SLEEPABLE)
BTF_SET8_END(fixture_set8)

/* 6.12-style kfunc set: header flags BTF_SET8_KFUNCS, mixed pair flags, and
 * two ties: mod_func_b twice (flags differ), two unresolved names (both 0,
 * flags differ). */
BTF_KFUNCS_START(fixture_kfuncs)
BTF_ID_FLAGS(func, mod_func_c, KF_DESTRUCTIVE)
BTF_ID_FLAGS(func, mod_func_b, KF_ACQUIRE)
BTF_ID_FLAGS(func, missing_kfunc_x, KF_RELEASE)
BTF_ID_FLAGS(func, mod_func_b, KF_RET_NULL)
BTF_ID_FLAGS(func, missing_kfunc_y, KF_SLEEPABLE)
BTF_ID_FLAGS(func, base_func, KF_TRUSTED_ARGS)
BTF_KFUNCS_END(fixture_kfuncs)

int fixture_init(void);
int fixture_init(void)
{
	struct base_s bs = { 1, 2 };
	union base_u bu = { .i = 3 };
	struct mod_s ms = { 4, &bs };
	union mod_u mu = { .l = 5 };
	struct dup_s d = { 6, 7 };
	struct samename sn = { 8 };

	return fixture_list[0] + fixture_set.cnt + fixture_set8.cnt +
	       fixture_kfuncs.pairs[0].id +
	       base_func(&bs, &bu, 9) + mod_func_a(&ms) + (int)mod_func_b(&mu) +
	       mod_func_c(&ms, 0) + (int)mod_func_d(&d, &sn, &sn) +
	       (int)dup_func(10, 11);
}
