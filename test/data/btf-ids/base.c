// SPDX-License-Identifier: GPL-2.0
/*
 * Tiny stand-in for vmlinux: its BTF (pahole -J base.o) is the base the
 * fixture module's split BTF is encoded against. See README.md.
 *
 * base2.c includes this file after some extra types, so that every id here
 * (and so every id of the module's split BTF) shifts.
 */

struct base_s { int a; long b; };
union base_u { int i; unsigned char c[8]; };
typedef unsigned long base_t;

/* A struct and a func whose names the module defines again, differently:
 * two BTF types with one name, so resolve_btfids warns "multiple IDs". */
struct dup_s { int in_base; };

#define __noinline __attribute__((noinline))

__noinline int base_func(struct base_s *s, union base_u *u, base_t t)
{
	return s->a + u->i + (int)t;
}

__noinline int dup_func(struct dup_s *d)
{
	return d->in_base;
}

int base_entry(void);
int base_entry(void)
{
	struct base_s s = { 1, 2 };
	union base_u u = { .i = 3 };
	struct dup_s d = { 4 };

	return base_func(&s, &u, 5) + dup_func(&d);
}
