// pyvisor's entry points: CPython as a WASI *reactor*.
//
// The controller calls `pyvisor_init` once, then `pyvisor_run` once per run.
// Between calls the interpreter sits idle with nothing on the wasm stack, so
// its linear memory is a complete snapshot: a copy of it, written into a fresh
// instance, is a ready interpreter (the fast-spawn path). Each run enters the
// eval loop through a new call, so V8 can use optimized code for it (V8 never
// replaces a wasm function that is already running).
//
// The request and the result travel over the channel fd, handled in Python by
// the `_pyvisor` module of the stdlib image; this file only initializes the
// runtime and calls `_pyvisor._serve()`.
#include "Python.h"

static PyObject *serve_function = NULL;

// An engine variant (engine/variants/*/) defines these in its glue: the first
// adds its extension modules to the inittab, the second imports the modules
// every sandbox starts with (so that snapshots hold them). The default engine
// links neither, so both are null.
__attribute__((weak)) void pyvisor_extend_inittab(void);
__attribute__((weak)) int pyvisor_variant_preload(void);

static int
report_status(PyStatus status)
{
    if (PyStatus_Exception(status)) {
        if (status.err_msg != NULL) {
            fprintf(stderr, "pyvisor_init: %s%s%s\n",
                    status.func ? status.func : "", status.func ? ": " : "", status.err_msg);
        }
        return status.exitcode ? status.exitcode : 1;
    }
    return 0;
}

// Returns 0 when the interpreter is ready, non-zero otherwise (the reason is on stderr).
__attribute__((export_name("pyvisor_init")))
int
pyvisor_init(void)
{
    if (pyvisor_extend_inittab != NULL) {
        pyvisor_extend_inittab();
    }
    // UTF-8 mode: the sandbox has no locale, and text must not depend on one.
    PyPreConfig preconfig;
    PyPreConfig_InitIsolatedConfig(&preconfig);
    preconfig.utf8_mode = 1;
    PyStatus prestatus = Py_PreInitialize(&preconfig);
    if (PyStatus_Exception(prestatus)) {
        return report_status(prestatus);
    }

    PyConfig config;
    PyConfig_InitIsolatedConfig(&config);
    config.install_signal_handlers = 0;
    config.use_environment = 1;      // the environment is the sandbox's own, never the host's
    config.write_bytecode = 0;       // the stdlib image is read-only and precompiled
    config.buffered_stdio = 0;       // output reaches the controller as it is written
    config.safe_path = 1;
    config.site_import = 0;          // no site-packages to find; keeps start-up small
    PyStatus status = PyConfig_SetString(&config, &config.home, L"/usr/local");
    if (!PyStatus_Exception(status)) {
        status = PyConfig_SetString(&config, &config.program_name, L"python3");
    }
    if (!PyStatus_Exception(status)) {
        status = PyConfig_SetString(&config, &config.executable, L"/usr/local/bin/python3");
    }
    if (!PyStatus_Exception(status)) {
        status = Py_InitializeFromConfig(&config);
    }
    PyConfig_Clear(&config);
    int rc = report_status(status);
    if (rc != 0) {
        return rc;
    }
    PyObject *module = PyImport_ImportModule("_pyvisor");
    if (module == NULL) {
        PyErr_Print();
        return 2;
    }
    serve_function = PyObject_GetAttrString(module, "_serve");
    Py_DECREF(module);
    if (serve_function == NULL) {
        PyErr_Print();
        return 3;
    }
    if (pyvisor_variant_preload != NULL && pyvisor_variant_preload() != 0) {
        PyErr_Print();
        return 4;
    }
    return 0;
}

// Serves one request from the channel. Returns the guest's exit status for the
// run (0 unless the program raised SystemExit with another code), or -1 when
// the driver itself failed (printed to stderr).
__attribute__((export_name("pyvisor_run")))
int
pyvisor_run(void)
{
    if (serve_function == NULL) {
        return -1;
    }
    PyObject *result = PyObject_CallNoArgs(serve_function);
    if (result == NULL) {
        PyErr_Print();
        return -1;
    }
    long status = PyLong_AsLong(result);
    Py_DECREF(result);
    if (status == -1 && PyErr_Occurred()) {
        PyErr_Print();
        return -1;
    }
    return (int)status;
}
