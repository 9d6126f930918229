// Debian's libc++abi for wasm32 is built without exceptions, so it has no
// __cxa_throw. pocketfft (numpy.fft) is compiled with exceptions for its
// throws (patches/0002); WebAssembly without the exception-handling proposal
// cannot unwind, so a throw ends the run here: a trap, which the host reports
// as that sandbox's crash. pocketfft throws only on an internal error or a
// failed allocation (which libc++ without exceptions already aborts on).
#include <stdlib.h>

void *__cxa_allocate_exception(size_t size) { return malloc(size); }

void __cxa_free_exception(void *exception) { free(exception); }

_Noreturn void __cxa_throw(void *exception, void *type, void (*destructor)(void *))
{
    (void)exception;
    (void)type;
    (void)destructor;
    abort();
}
