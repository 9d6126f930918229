// pyvisor: the periodic controller check on WASI (see Python/pyvisor_hooks.c).
#ifndef Py_INTERNAL_PYVISOR_HOOKS_H
#define Py_INTERNAL_PYVISOR_HOOKS_H
#if defined(__wasi__)
extern int _pyvisor_tick_countdown;
void _PyVisor_TickSlow(void);
#define _PyVisor_TICK() \
    do { if (--_pyvisor_tick_countdown <= 0) { _PyVisor_TickSlow(); } } while (0)
#else
#define _PyVisor_TICK()
#endif
#endif
