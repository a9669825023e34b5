/*
 * libunwind.a for panic=abort release builds: no unwinder at all.
 *
 * Rust's std links `-lunwind` on *-linux-musl with +crt-static whatever the panic
 * strategy, because backtraces use _Unwind_Backtrace. With panic = "abort" nothing
 * ever unwinds, so we provide the symbols std can reference and make them report
 * "end of stack": a panic prints its message and aborts, a backtrace is empty.
 * This keeps glibc-built, hard-float libgcc_eh code (cross.md trap 1, trap 2) out
 * of the router binaries. `cargo test` uses the real unwinder (unwind-shim.c).
 */
#include <stdint.h>
#include <stdlib.h>

typedef int _Unwind_Reason_Code;
#define URC_FATAL_PHASE1_ERROR 3
#define URC_END_OF_STACK 5

struct _Unwind_Context;
struct _Unwind_Exception {
	uint64_t exception_class;
	void (*exception_cleanup)(int, struct _Unwind_Exception *);
};
typedef _Unwind_Reason_Code (*_Unwind_Trace_Fn)(struct _Unwind_Context *, void *);

_Unwind_Reason_Code _Unwind_Backtrace(_Unwind_Trace_Fn fn, void *arg)
{
	(void)fn; (void)arg;
	return URC_END_OF_STACK;
}
/* panic=unwind code would call this; returning an error makes std abort */
_Unwind_Reason_Code _Unwind_RaiseException(struct _Unwind_Exception *e)
{
	(void)e;
	return URC_END_OF_STACK;
}
void _Unwind_Resume(struct _Unwind_Exception *e) { (void)e; abort(); }
void _Unwind_DeleteException(struct _Unwind_Exception *e)
{
	if (e && e->exception_cleanup)
		e->exception_cleanup(1 /* _URC_FOREIGN_EXCEPTION_CAUGHT */, e);
}
uintptr_t _Unwind_GetIP(struct _Unwind_Context *c) { (void)c; return 0; }
uintptr_t _Unwind_GetIPInfo(struct _Unwind_Context *c, int *before)
{
	(void)c;
	if (before) *before = 0;
	return 0;
}
uintptr_t _Unwind_GetCFA(struct _Unwind_Context *c) { (void)c; return 0; }
uintptr_t _Unwind_GetGR(struct _Unwind_Context *c, int i) { (void)c; (void)i; return 0; }
void _Unwind_SetGR(struct _Unwind_Context *c, int i, uintptr_t v) { (void)c; (void)i; (void)v; }
void _Unwind_SetIP(struct _Unwind_Context *c, uintptr_t v) { (void)c; (void)v; }
uintptr_t _Unwind_GetLanguageSpecificData(struct _Unwind_Context *c) { (void)c; return 0; }
uintptr_t _Unwind_GetRegionStart(struct _Unwind_Context *c) { (void)c; return 0; }
uintptr_t _Unwind_GetTextRelBase(struct _Unwind_Context *c) { (void)c; return 0; }
uintptr_t _Unwind_GetDataRelBase(struct _Unwind_Context *c) { (void)c; return 0; }
void *_Unwind_FindEnclosingFunction(void *pc) { (void)pc; return 0; }
