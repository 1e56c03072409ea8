# NonLocalNet — quick start: `make demo`, `make test` (see README.md).
SHELL := /bin/bash
SWIFT ?= swift
CONFIG ?= release
BIN := .build/$(CONFIG)/nlnet

# Debian packages the build and the tests need (ffmpeg: the CLI that the video tests
# compare decoded pixels against).
DEBS := pkg-config libopenblas-dev libavcodec-dev libavformat-dev libavdevice-dev libswscale-dev libavutil-dev ffmpeg

# Debian's OpenBLAS may not recognise this CPU and fall back to a slow generic kernel; it
# reads OPENBLAS_CORETYPE only at load, so tests and benchmarks set it (a value already in
# the environment wins). The nlnet binary does the same for itself when run directly.
BLAS_CORE := $(shell if grep -qw avx512f /proc/cpuinfo 2>/dev/null && grep -qw avx512bw /proc/cpuinfo; then echo SkylakeX; \
               elif grep -qw avx2 /proc/cpuinfo 2>/dev/null; then echo Haswell; fi)
ifneq ($(BLAS_CORE),)
export OPENBLAS_CORETYPE ?= $(BLAS_CORE)
endif

.PHONY: all deps build test demo bench fixtures fuzz stress clean check-real-videos

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

build: deps
	$(SWIFT) build -c $(CONFIG) --product nlnet

test: deps
	$(SWIFT) build -c $(CONFIG) --build-tests
	Scripts/run-tests.sh $(SWIFT) test -c $(CONFIG) --skip-build

# Classifies the synthetic clips in Clips/synthetic with the shipped default model
# (Configs/default_model.safetensors: NL-I3D trained on the synthetic benchmark), 10 clips ×
# 3 crops each, top 3.
demo: build
	$(BIN) classify Clips/synthetic --top 3

bench: build
	$(BIN) bench kernels

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
