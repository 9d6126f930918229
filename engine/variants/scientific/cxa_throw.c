// Debian's libc++abi for wasm32 is built without exceptions, so it has no
// __cxa_throw. pocketfft (numpy.fft) is compiled with exceptions for its
// throws (patches/0002): std::bad_alloc when an allocation fails (at the
// sandbox's memory limit), std::runtime_error or std::invalid_argument on a
// bad request. WebAssembly without C++ exception handling cannot unwind, so a
// throw returns by longjmp (wasi-libc's setjmp, built on the exception-handling
// proposal: this file is compiled with -mllvm -wasm-enable-sjlj) to the
// innermost pyvisor_cxx_guard, which hands the thrown object to its caller
// (numpy's ufunc loop wrapper, patches/0003) to become a Python exception.
// The destructors of the frames in between do not run: what pocketfft had
// allocated for the failed call (at most one FFT plan and its buffers) is not
// freed. A throw outside any guard still ends the run (abort: a trap, after
// which the sandbox restarts its interpreter).
#include <setjmp.h>
#include <stddef.h>
#include <stdlib.h>

struct pyvisor_cxx_exception {
    void *object;
    const void *type;
    void *(*destructor)(void *); // on wasm a destructor returns `this` (the C++ ABI)
};

static jmp_buf *landing;
static struct pyvisor_cxx_exception *landing_caught;

// The thrown object is constructed in place at once: no memory for it at all is
// an abort rather than a write through NULL (address 0 is memory in wasm32).
void *__cxa_allocate_exception(size_t size)
{
    void *exception = malloc(size);
    if (exception == NULL)
        abort();
    return exception;
}

void __cxa_free_exception(void *exception) { free(exception); }

/** Runs body(context); returns 0, or 1 with *caught filled when it threw. */
int pyvisor_cxx_guard(void (*body)(void *), void *context, struct pyvisor_cxx_exception *caught)
{
    jmp_buf here;
    jmp_buf *outer = landing;
    struct pyvisor_cxx_exception *outer_caught = landing_caught;
    landing = &here;
    landing_caught = caught;
    int thrown = setjmp(here);
    if (!thrown)
        body(context);
    landing = outer;
    landing_caught = outer_caught;
    return thrown;
}

_Noreturn void __cxa_throw(void *exception, void *type, void *(*destructor)(void *))
{
    if (landing == NULL)
        abort();
    landing_caught->object = exception;
    landing_caught->type = type;
    landing_caught->destructor = destructor;
    longjmp(*landing, 1);
}
