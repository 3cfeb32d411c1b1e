// SPDX-License-Identifier: GPL-2.0
/*
 * base.c with extra types first: every BTF id of base.c's types is larger in
 * base2.o than in base.o, so a module encoded against base2.o has all its own
 * ids (and all base ids it references) renumbered. See README.md.
 *
 * Two of the extras reuse names the module defines (struct mod_s and func
 * mod_func_b, with other layouts/prototypes): against base2.o those names
 * resolve to these base ids instead of the module's, which also changes the
 * sorted order of the sets that list them.
 */

struct extra_a { int x; };
struct extra_b { struct extra_a a; long y; };
union extra_u { int i; long l; };
typedef struct extra_b extra_t;
struct mod_s { char not_the_module_one; };

__attribute__((noinline)) long extra_func(extra_t *t, union extra_u *u)
{
	return t->a.x + t->y + u->l;
}

__attribute__((noinline)) long mod_func_b(struct mod_s *s)
{
	return s->not_the_module_one;
}

#include "base.c"

long base2_entry(void);
long base2_entry(void)
{
	extra_t t = { { 1 }, 2 };
	union extra_u u = { .l = 3 };
	struct mod_s m = { 4 };

	return extra_func(&t, &u) + mod_func_b(&m) + base_entry();
}
