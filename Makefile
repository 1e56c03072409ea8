# NonLocalNet — quick start: `make demo`, `make test` (see README.md).
SHELL := /bin/bash
SWIFT ?= swift
CONFIG ?= release
BIN := .build/$(CONFIG)/nlnet

# Debian packages the build and the tests need (ffmpeg: the CLI that the video tests
# compare decoded pixels against; Open MPI: only the data-parallel training tests run mpirun,
# nlnet itself loads libmpi at run time and only when mpirun started it).
DEBS := pkg-config libopenblas-dev libavcodec-dev libavformat-dev libavdevice-dev libswscale-dev libavutil-dev ffmpeg openmpi-bin libopenmpi-dev

# Debian's OpenBLAS may not recognise this CPU and fall back to a slow generic kernel; it
# reads OPENBLAS_CORETYPE only at load, so tests and benchmarks set it (a value already in
# the environment wins). The nlnet binary does the same for itself when run directly.
BLAS_CORE := $(shell if grep -qw avx512f /proc/cpuinfo 2>/dev/null && grep -qw avx512bw /proc/cpuinfo; then echo SkylakeX; \
               elif grep -qw avx2 /proc/cpuinfo 2>/dev/null; then echo Haswell; fi)
ifneq ($(BLAS_CORE),)
export OPENBLAS_CORETYPE ?= $(BLAS_CORE)
endif

.PHONY: docs check-docs example all deps build test demo bench fixtures fuzz fuzz-weights fuzz-weights-build stress clean check-real-videos install uninstall

all: build

deps:
	@missing=$$(for p in $(DEBS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q "install ok installed" || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing Debian packages: $$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "Missing Debian packages. Run:"; echo "  sudo apt-get install -y $$missing"; exit 1; \
	  fi; \
	fi

# The package needs no CPU flags (the wide-vector kernels choose their instruction set at run
# time); NATIVE=1 also compiles the Swift code for this machine's CPU.
ifeq ($(NATIVE),1)
SWIFT_FLAGS += -Xswiftc -target-cpu -Xswiftc native -Xcc -march=native
endif

build: deps
	$(SWIFT) build -c $(CONFIG) $(SWIFT_FLAGS) --product nlnet

# The whole suite, then the kernels' PyTorch parity suites again at each lower instruction-set
# level this CPU has (NLNET_ISA; the kernels are chosen at run time).
KERNEL_SUITES := KernelLevelTests|OpParityTests|GradientCheckTests|AttentionFamilyGradientTests|InferenceTests|ModelParityTests
test: deps
	python3 Scripts/check_doc_comments.py
	Scripts/check_line_length.sh
	$(SWIFT) build -c $(CONFIG) $(SWIFT_FLAGS) --build-tests
	Scripts/run-tests.sh $(SWIFT) test -c $(CONFIG) $(SWIFT_FLAGS) --skip-build
	for isa in avx2 baseline; do \
	  echo "== kernels at NLNET_ISA=$$isa"; \
	  NLNET_ISA=$$isa Scripts/run-tests.sh $(SWIFT) test -c $(CONFIG) $(SWIFT_FLAGS) --skip-build --filter '$(KERNEL_SUITES)' || exit 1; \
	done
	$(MAKE) example

# The DocC catalog of the NonLocalNet module, with the symbols of the four layers it re-exports,
# as a static site in .build/docs (the toolchain's docc; no plugin dependency).
docs: deps
	$(SWIFT) build -c $(CONFIG) --target NonLocalNet -Xswiftc -emit-symbol-graph -Xswiftc -emit-symbol-graph-dir \
	  -Xswiftc $(CURDIR)/.build/symbol-graphs
	docc convert Sources/NonLocalNet/NonLocalNet.docc --fallback-display-name NonLocalNet --fallback-bundle-identifier nonlocalnet \
	  --additional-symbol-graph-dir .build/symbol-graphs --output-path .build/docs
	@echo "documentation: .build/docs (serve it with e.g. python3 -m http.server -d .build/docs)"

# Public declarations of the library targets without a doc comment.
check-docs:
	python3 Scripts/check_doc_comments.py

# An app built against this package by URL and version (Examples/ClassifyClip): a clone of the
# committed HEAD, tagged 1.0.0, resolved and built afresh each time (its own cache, pins and
# build folder: a kept build folder can point into checkouts of an older resolution).
EXAMPLE_SRC := .build/example-src/NonLocalNet
EXAMPLE_BUILD := .build/example
example: deps
	rm -rf $(EXAMPLE_SRC) $(EXAMPLE_BUILD) .build/example-cache Examples/ClassifyClip/Package.resolved
	mkdir -p $(dir $(EXAMPLE_SRC)) && git clone -q . $(EXAMPLE_SRC) && git -C $(EXAMPLE_SRC) tag -f 1.0.0 >/dev/null
	cd Examples/ClassifyClip && NONLOCALNET_URL=file://$(CURDIR)/$(EXAMPLE_SRC) \
	  $(SWIFT) build -c $(CONFIG) --scratch-path $(CURDIR)/$(EXAMPLE_BUILD) --cache-path $(CURDIR)/.build/example-cache
	out=$$($(EXAMPLE_BUILD)/$(CONFIG)/ClassifyClip Configs/default_model.safetensors Clips/synthetic/left_to_right.mp4) \
	  && echo "$$out" && echo "$$out" | head -1 | grep -q '^1 left_to_right ' \
	  || { echo "example: expected left_to_right first"; exit 1; }

# Classifies the synthetic clips in Clips/synthetic with the shipped default model
# (Configs/default_model.safetensors: NL-I3D trained on the synthetic benchmark), 10 clips ×
# 3 crops each, top 3.
demo: build
	$(BIN) classify Clips/synthetic --top 3

bench: build
	$(BIN) bench kernels

# Installs the binary and what it reads at run time: the default model, the class lists and
# the presets, under $(PREFIX)/share/nlnet/Configs (the binary looks there: beside its own
# ../share/nlnet, else /usr/local/share/nlnet or /usr/share/nlnet). DESTDIR stages a package.
PREFIX ?= /usr/local
SHARE := $(DESTDIR)$(PREFIX)/share/nlnet
install: build
	install -d $(DESTDIR)$(PREFIX)/bin $(SHARE)/Configs/labels
	install -m 755 $(BIN) $(DESTDIR)$(PREFIX)/bin/nlnet
	install -m 644 Configs/*.yaml Configs/default_model.safetensors Configs/README.md $(SHARE)/Configs/
	install -m 644 Configs/labels/*.txt $(SHARE)/Configs/labels/

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/nlnet
	rm -rf $(SHARE)

# Regenerate the PyTorch reference fixtures (needs torch; never run by CI).
fixtures:
	@test -x /tmp/torch/bin/python || { python3 -m venv /tmp/torch && /tmp/torch/bin/pip install -q torch numpy safetensors; }
	/tmp/torch/bin/python Tests/Fixtures/make_fixtures.py

# libFuzzer + AddressSanitizer over the video shim (open, probe, decode). New inputs go to
# .build/fuzz/corpus; Fuzz/corpus holds the committed seeds. FUZZ_SECONDS=600 by default.
FUZZ_SECONDS ?= 600
FUZZ_CC ?= clang
fuzz: deps
	mkdir -p .build/fuzz/corpus
	$(FUZZ_CC) -g -O1 -fsanitize=fuzzer,address Fuzz/video_fuzz.c Sources/CVideoShim/video_shim.c Sources/CVideoShim/frame_scaler.c Sources/CVideoShim/shim_error.c \
	  -ISources/CVideoShim/include -ISources/CVideoShim $$(pkg-config --cflags --libs libavformat libavdevice libavcodec libswscale libavutil) \
	  -o .build/fuzz/video_fuzz 2>&1 | grep -v "Cannot export local symbol" || true
	.build/fuzz/video_fuzz -max_total_time=$(FUZZ_SECONDS) -timeout=20 -rss_limit_mb=4096 \
	  -artifact_prefix=.build/fuzz/ .build/fuzz/corpus Fuzz/corpus Fuzz/regressions

# libFuzzer + AddressSanitizer over the readers of untrusted model files: the safetensors
# header, the pickle machine (Caffe2 .pkl), the torch.save zip and the YAML presets, one target
# each (Fuzz/weights/<reader>_fuzz.swift), FUZZ_SECONDS each, one after another. Seeds in
# Fuzz/corpus-weights/<reader> (Fuzz/make_weight_seeds.py), past findings in
# Fuzz/regressions-weights/<reader> (replayed by the tests); new inputs and crashes go to
# .build/fuzz-weights/. The sources are compiled with swiftc directly (SwiftPM has no fuzzer
# build): NLTensor, Yams (+ libyaml), ZIPFoundation and NLModels as instrumented modules, in
# the language modes SwiftPM gives them.
FUZZ_READERS ?= safetensors pickle torchzip config
FW := .build/fuzz-weights
FW_YAMS := .build/checkouts/Yams/Sources
FW_ZIP := .build/checkouts/ZIPFoundation/Sources
FW_SWIFTC := $(SWIFT)c -O -g -parse-as-library -sanitize=fuzzer,address -DSWIFT_PACKAGE -package-name nonlocalnet \
  -I $(FW)/modules -I Sources/COpenBLAS -I Sources/CKernels/include -I $(FW_YAMS)/CYaml/include -I $(FW_ZIP)/CZLib
FW_OBJECTS := $(FW)/NLModels.o $(FW)/ZIPFoundation.o $(FW)/Yams.o $(FW)/libyaml.o $(FW)/NLTensor.o $(FW)/CKernels.o

fuzz-weights-build: deps
	@test -d $(FW_YAMS) -a -d $(FW_ZIP) || $(SWIFT) package resolve
	$(MAKE) $(foreach r,$(FUZZ_READERS),$(FW)/$(r)_fuzz)

$(FW)/libyaml.o: $(wildcard $(FW_YAMS)/CYaml/src/*.c)
	mkdir -p $(FW)/libyaml
	cd $(FW)/libyaml && $(FUZZ_CC) -c -g -O1 -fsanitize=fuzzer-no-link,address -DYAML_DECLARE_EXPORT \
	  -I$(CURDIR)/$(FW_YAMS)/CYaml/include $(addprefix $(CURDIR)/,$^)
	ld -r -o $@ $(FW)/libyaml/*.o
$(FW)/CKernels.o: Sources/CKernels/kernels.c $(wildcard Sources/CKernels/*.h Sources/CKernels/include/*.h)
	mkdir -p $(FW)
	$(FUZZ_CC) -c -g -O1 -fsanitize=fuzzer-no-link,address -ISources/CKernels/include $< -o $@
$(FW)/NLTensor.o: $(wildcard Sources/NLTensor/*.swift)
	mkdir -p $(FW)/modules
	$(FW_SWIFTC) -swift-version 6 -c -wmo -module-name NLTensor -emit-module-path $(FW)/modules/NLTensor.swiftmodule $^ -o $@
$(FW)/Yams.o: $(wildcard $(FW_YAMS)/Yams/*.swift)
	mkdir -p $(FW)/modules
	$(FW_SWIFTC) -swift-version 5 -c -wmo -module-name Yams -emit-module-path $(FW)/modules/Yams.swiftmodule $^ -o $@
$(FW)/ZIPFoundation.o: $(wildcard $(FW_ZIP)/ZIPFoundation/*.swift)
	mkdir -p $(FW)/modules
	$(FW_SWIFTC) -swift-version 5 -c -wmo -module-name ZIPFoundation -emit-module-path $(FW)/modules/ZIPFoundation.swiftmodule \
	  -Xcc -D_GNU_SOURCE=1 $^ -o $@
$(FW)/NLModels.o: $(wildcard Sources/NLModels/*.swift) $(FW)/NLTensor.o $(FW)/Yams.o $(FW)/ZIPFoundation.o
	$(FW_SWIFTC) -swift-version 6 -c -wmo -module-name NLModels -emit-module-path $(FW)/modules/NLModels.swiftmodule $(filter %.swift,$^) -o $@
$(FW)/%_fuzz: Fuzz/weights/%_fuzz.swift Fuzz/weights/FuzzInput.swift $(FW_OBJECTS)
	$(FW_SWIFTC) -swift-version 6 -module-name $*_fuzz Fuzz/weights/FuzzInput.swift $< $(FW_OBJECTS) -lopenblas -lz -o $@

# ZIPFoundation leaks a path string per archive opened (Fuzz/weights/lsan.supp): every torch
# input would trigger libFuzzer's leak scan, at a tenth of the speed.
FUZZ_FLAGS_torchzip := -detect_leaks=0
# Fails (after running every reader) when any reader's fuzzer stopped on a finding.
fuzz-weights: fuzz-weights-build
	@failed=""; $(foreach r,$(FUZZ_READERS), \
	  mkdir -p $(FW)/corpus/$(r) $(FW)/findings/$(r); echo "== $(r): $(FUZZ_SECONDS) s"; \
	  LSAN_OPTIONS=suppressions=Fuzz/weights/lsan.supp SWIFT_BACKTRACE=enable=no $(FW)/$(r)_fuzz \
	    -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024 $(FUZZ_FLAGS_$(r)) \
	    -artifact_prefix=$(FW)/findings/$(r)/ $(FW)/corpus/$(r) Fuzz/corpus-weights/$(r) $(wildcard Fuzz/regressions-weights/$(r)) \
	    || failed="$$failed $(r)";) \
	if [ -n "$$failed" ]; then echo "fuzz-weights: findings in:$$failed (inputs in $(FW)/findings/)"; exit 1; fi

# The worker pool under ThreadSanitizer: WorkerPool.swift with a driver of plain, nested and
# concurrent callers (STRESS_ROUNDS per caller, 3 callers); fails on a data race or a lost chunk.
STRESS_ROUNDS ?= 200000
stress:
	mkdir -p .build/stress
	$(SWIFT)c -O -sanitize=thread -o .build/stress/pool_stress Sources/NLTensor/WorkerPool.swift Tests/PoolStress/main.swift
	TSAN_OPTIONS=halt_on_error=1 .build/stress/pool_stress $(STRESS_ROUNDS)

clean:
	rm -rf .build

# Decodes real videos from Debian packages (docs, test data, games: made by other software)
# and compares them bit-exactly with the ffmpeg CLI; downloads ~460 MB once into
# NLNET_REAL_VIDEOS (default ~/.cache/nlnet-real-videos). Not part of `make test`.
check-real-videos: build
	Scripts/check_real_videos.sh
