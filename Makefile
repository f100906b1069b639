# fasgo: `make demo` runs the whole job on a fresh machine; `make test` is the test command.
SHELL := /bin/bash
BUILD ?= build
GO ?= $(shell command -v go || echo /usr/local/go/bin/go)
CMAKE_FLAGS ?=
GOTEST_FLAGS ?=

.PHONY: all deps configure shim build fas install test test-cpp test-go bench bench-go demo train clean

all: build

deps:
	@scripts/deps.sh $(BUILD)/testdata

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)

configure: $(BUILD)/build.ninja

shim: configure
	cmake --build $(BUILD)

fas: shim
	$(GO) build -buildvcs=auto -o bin/fas ./go/cmd/fas

build: fas

# make install PREFIX=/usr/local: libfasshim.so, fas/fas.h and fasshim.pc under PREFIX (for Go
# modules that import github.com/fasgo/fasgo/go/liveness: build them with -tags fasshim_installed
# and PKG_CONFIG_PATH=PREFIX/lib/pkgconfig; see README, "Liveness for Go services").
PREFIX ?= /usr/local
install: shim
	cmake --install $(BUILD) --prefix $(abspath $(PREFIX))

test: deps build test-cpp test-go

test-cpp: shim
	cd $(BUILD) && FASGO_TESTDATA=$(abspath $(BUILD))/testdata ctest --output-on-failure

test-go: shim
	$(GO) vet ./...
	FASGO_TESTDATA=$(abspath $(BUILD))/testdata $(GO) test -race -timeout 30m $(GOTEST_FLAGS) ./...

demo: deps build
	@scripts/demo.sh

# make train CONFIG=configs/anrl/OCI2M.yaml GPUS=8 [ARGS="--set run.name=x"]: one rank per GPU
# (or per core share on a CPU machine) on this node.
GPUS ?= 1
train: build
	@test -n "$(CONFIG)" || { echo "make train needs CONFIG=path/to/config.yaml" >&2; exit 2; }
	bin/fas train --nproc $(GPUS) --config $(CONFIG) $(ARGS)

# make bench [BENCH_FLAGS="-runs 7 -only 'meta step' -set adanorm=composite"]: fasgo against
# PyTorch (same libtorch, same threads) and the other side-by-side comparisons, one line each
# (go/cmd/fasbench; README "Benchmarks"). make bench-go: every Go benchmark, three iterations.
BENCH_FLAGS ?=
bench: build
	$(GO) build -o bin/fasbench ./go/cmd/fasbench
	bin/fasbench $(BENCH_FLAGS)

bench-go: build
	FASGO_TESTDATA=$(abspath $(BUILD))/testdata $(GO) test -run '^$$' -bench . -benchtime 3x ./go/...

clean:
	rm -rf $(BUILD) bin
