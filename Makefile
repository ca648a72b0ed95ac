# A newcomer's entry points (DESIGN §1). Every target installs what it needs into .local/.
.PHONY: up test lint install clean-local

## make up: the whole system locally with demo data (arrives with the local-stack issue, #4)
up:
	@echo "make up: the local stack (devstack around cargo-lambda or SAM CLI) arrives with issue #4."
	@echo "Until then, 'make test' installs and starts DynamoDB Local and the SQS stand-in for the tests."
	@exit 2

## make test: install what is missing, start DynamoDB Local + SQS stand-in, run every suite
test:
	@infra/local/test.sh

## make lint: formatting, clippy and the SAM template lint
lint: install
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	SAM_CLI_TELEMETRY=0 .local/venv/bin/sam validate --lint --region cn-north-1

## make install: DynamoDB Local, moto and SAM CLI into .local/ (idempotent)
install:
	@infra/local/install.sh

## make clean-local: forget the local installs (they are re-fetched on demand)
clean-local:
	rm -rf .local
