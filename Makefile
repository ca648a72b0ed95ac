# A newcomer's entry points (DESIGN §1). Every target installs what it needs into .local/.
.PHONY: up test test-sam invoke docker lint install clean-local bench bench-oa bench-cutoff sim

EMULATOR ?= cargo-lambda

## make up [EMULATOR=sam]: the whole system locally with demo data, in the foreground (Ctrl-C stops)
up:
	@EMULATOR=$(EMULATOR) infra/local/up.sh

## make test: install what is missing, start DynamoDB Local, SQS stand-in and devstack, run every suite (no Docker)
test:
	@infra/local/test.sh

## make test-sam: the devstack's end-to-end suite with functions under SAM CLI in Docker
test-sam: docker
	@infra/local/sam.sh test

## make invoke FN=<LogicalId> EVENT=events/<function>/<file>.json: one invocation through `sam local invoke`
invoke: docker
	@infra/local/sam.sh invoke "$(FN)" "$(EVENT)"

## make bench [SKIP_SIZES=1] [BURST="10000 64 2000"]: every DESIGN §10 figure beside its reference in one table (release builds; long the first time)
bench:
	@SKIP_SIZES=$(SKIP_SIZES) BURST="$(BURST)" infra/bench/all.sh

## make sim [SEED=1] [EVENTS=5000] [MEMBERS=12]: seeded fault simulation of the ledger over DynamoDB Local (a failing seed reproduces)
sim:
	@SEED=$(SEED) EVENTS=$(EVENTS) MEMBERS=$(MEMBERS) infra/sim/run.sh

## make bench-oa: the encrypted OA push in Linli and in wechatpy, side by side (optimised build; minutes the first time)
bench-oa:
	@infra/bench/oa.sh

## make bench-cutoff [LINES="1000 10000 100000"]: a group-buy cutoff at each size through a local stack (time, peak memory)
bench-cutoff:
	@infra/bench/cutoff.sh

## make docker: install and start the Docker engine (idempotent; needs root)
docker:
	@infra/local/docker.sh

## make lint: formatting, clippy and the SAM template lint
lint: install
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	SAM_CLI_TELEMETRY=0 .local/venv/bin/sam validate --lint --region cn-north-1

## make install: DynamoDB Local, moto, SAM CLI and cargo-lambda into .local/ (idempotent)
install:
	@infra/local/install.sh

## make clean-local: forget the local installs (they are re-fetched on demand)
clean-local:
	rm -rf .local
