/*
 * Makes Debian's cross libgcc_eh.a (built for glibc) usable as libunwind.a in a static
 * musl link. Archived together with libgcc_eh.a's objects by openwrt/cross-build.sh.
 *
 * 1. glibc >= 2.35 libgcc_eh finds FDEs with _dl_find_object(), which musl lacks.
 *    We implement it with dl_iterate_phdr(), which static musl supports (AT_PHDR).
 *    On x86_64, aarch64 and mips glibc defines neither DLFO_STRUCT_HAS_EH_DBASE nor
 *    DLFO_STRUCT_HAS_EH_COUNT, so the structure is the five fields below + reserved.
 * 2. libgcc_eh calls pthread_once/pthread_mutex_* through *weak* references and checks
 *    "threads active" via __pthread_key_create. In a static link weak references do not
 *    pull archive members, so with Rust's futex-based std these resolve to NULL while
 *    __pthread_key_create is present: the first backtrace/unwind jumps to address 0.
 *    pthread-refs.inc (generated from `nm libgcc_eh.a`) takes their addresses with
 *    strong references; this object is pulled in by _dl_find_object, so they are too.
 */
#define _GNU_SOURCE
#include <link.h>
#include <stddef.h>
#include <stdint.h>

struct dl_find_object {
	unsigned long long dlfo_flags;
	void *dlfo_map_start;
	void *dlfo_map_end;
	void *dlfo_link_map;
	void *dlfo_eh_frame;
	unsigned long long __dflo_reserved[7];
};

#include "pthread-refs.inc"

struct find_ctx {
	uintptr_t pc;
	struct dl_find_object *out;
	int found;
};

static int find_cb(struct dl_phdr_info *info, size_t size, void *data)
{
	struct find_ctx *c = data;
	const ElfW(Phdr) *eh = NULL;
	uintptr_t lo = UINTPTR_MAX, hi = 0;
	int hit = 0;
	(void)size;
	for (size_t i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *p = &info->dlpi_phdr[i];
		if (p->p_type == PT_LOAD) {
			uintptr_t s = info->dlpi_addr + p->p_vaddr, e = s + p->p_memsz;
			if (s < lo) lo = s;
			if (e > hi) hi = e;
			if (c->pc >= s && c->pc < e) hit = 1;
		} else if (p->p_type == PT_GNU_EH_FRAME) {
			eh = p;
		}
	}
	if (!hit)
		return 0;
	c->out->dlfo_flags = 0;
	c->out->dlfo_map_start = (void *)lo;
	c->out->dlfo_map_end = (void *)hi;
	c->out->dlfo_link_map = NULL;
	c->out->dlfo_eh_frame = eh ? (void *)(info->dlpi_addr + eh->p_vaddr) : NULL;
	c->found = 1;
	return 1;
}

int _dl_find_object(void *pc, struct dl_find_object *result)
{
	struct find_ctx c = { (uintptr_t)pc, result, 0 };
	/* keep the strong references alive even under -ffunction-sections/--gc-sections */
	__asm__ volatile("" : : "r"(sipalg_pthread_refs) : "memory");
	dl_iterate_phdr(find_cb, &c);
	return c.found ? 0 : -1;
}
