# Links pyvisor's reactor (python.wasm) from CPython's own build, reusing its
# Makefile variables: make -f Makefile -f reactor.mk pyvisor-reactor.wasm
PYVISOR_SRC ?= .
# A variant (build.sh --variant) links its extension modules in as well, under its own name.
PYVISOR_REACTOR ?= pyvisor-reactor.wasm
PYVISOR_EXTRA_OBJS ?=
PYVISOR_EXTRA_LIBS ?=
pyvisor_main.o: $(PYVISOR_SRC)/pyvisor_main.c
	$(CC) -c $(PY_CORE_CFLAGS) -o $@ $<

# --import-memory: the controller creates each sandbox's memory, with its own
# maximum (the memory limit) and, for snapshots, already filled.
$(PYVISOR_REACTOR): pyvisor_main.o $(PYVISOR_EXTRA_OBJS) $(LINK_PYTHON_DEPS)
	$(LINKCC) $(PY_CORE_LDFLAGS) $(LINKFORSHARED) -mexec-model=reactor \
	  -Wl,--import-memory -Wl,--initial-memory=20971520 -Wl,--max-memory=4294967296 \
	  -o $@ pyvisor_main.o $(PYVISOR_EXTRA_OBJS) $(BLDLIBRARY) $(PYVISOR_EXTRA_LIBS) $(LIBS) $(MODLIBS) $(SYSLIBS)
