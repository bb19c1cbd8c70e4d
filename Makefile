# The two set-up commands (see README):
#   make dev   installs what is missing, runs the control plane on :3000
#   make test  installs what is missing, runs every suite
.PHONY: dev test
dev:
	scripts/dev.sh
test:
	scripts/test.sh
