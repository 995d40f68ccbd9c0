# Entry points. `make example` and `make test` work on a fresh Debian machine: they install
# the packages alloy needs, build, and run.
BUILD ?= build
JOBS ?= 2

.PHONY: all deps build example test bench clean format

all: build

deps:
	scripts/deps.sh

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(BUILD) -j $(JOBS)

example: build
	scripts/example.sh $(BUILD)

test: build
	scripts/test.sh $(BUILD)

bench: build
	bench/merge_bench.sh $(BUILD)

format:
	clang-format -i $$(git ls-files '*.cpp' '*.hpp' '*.c' '*.h' | grep -v dlpack.h)

clean:
	rm -rf $(BUILD) example
