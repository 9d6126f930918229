// pyvisor's hooks inside CPython's eval loop (compiled as Python/pyvisor_hooks.c).
//
// The WASI twin of Python/emscripten_signal.c: every `_pyvisor_tick_interval`
// eval-breaker checks (backward jumps, calls), the interpreter calls the
// controller's `pyvisor.tick` import. The controller answers 0 to go on, or a
// PYVISOR_INTERRUPT_* code; the code becomes a Python exception raised at the
// next bytecode boundary through a pending call, so `try/finally` blocks run
// and the interpreter stays usable. The controller also counts the calls: that
// count times the interval is a deterministic CPU budget, independent of the
// host's speed.
#include "Python.h"

#if defined(__wasi__)
#include "pycore_pyvisor_hooks.h"

#define PYVISOR_INTERRUPT_KEYBOARD 1   // cancellation (Ctrl-C, host abort)
#define PYVISOR_INTERRUPT_TIMEOUT 2    // wall or CPU time limit

__attribute__((import_module("pyvisor"), import_name("tick")))
extern int32_t pyvisor_tick_import(int32_t interval);

// Read by the controller through the exported function below; 1000 checks is
// well under a millisecond of Python on this engine.
int _pyvisor_tick_interval = 1000;
int _pyvisor_tick_countdown = 1000;

__attribute__((export_name("pyvisor_set_tick_interval")))
void
pyvisor_set_tick_interval(int32_t interval)
{
    if (interval < 1) {
        interval = 1;
    }
    _pyvisor_tick_interval = interval;
    _pyvisor_tick_countdown = interval;
}

static int
raise_interrupt(void *arg)
{
    int code = (int)(intptr_t)arg;
    if (code == PYVISOR_INTERRUPT_TIMEOUT) {
        PyErr_SetString(PyExc_TimeoutError, "pyvisor: time limit exceeded");
    }
    else {
        PyErr_SetNone(PyExc_KeyboardInterrupt);
    }
    return -1;
}

void
_PyVisor_TickSlow(void)
{
    int interval = _pyvisor_tick_interval;
    _pyvisor_tick_countdown = interval;
    int32_t code = pyvisor_tick_import(interval);
    if (code != 0) {
        // Fails only when the pending-call queue is full: the next tick retries.
        (void)Py_AddPendingCall(raise_interrupt, (void *)(intptr_t)code);
    }
}

#endif  // __wasi__
