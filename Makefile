# Everyday targets. Everything runs through the go command: the tools are
# pinned in go.mod (go tool swag ...), so a machine with only Go needs
# nothing else.

.PHONY: run test race walkthrough docs lint fuzz bench ci

run:
	go run ./cmd/huizong

test:
	go test ./...

race:
	go test -race ./...

walkthrough:
	bash scripts/walkthrough.sh

docs:
	go tool swag fmt -d ./handlers
	bash scripts/docs.sh
	bash scripts/client.sh

lint:
	test -z "$$(gofmt -l $$(git ls-files '*.go' | grep -v '^docs/'))"
	go vet ./...
	go tool staticcheck ./...

fuzz:
	scripts/fuzz.sh 10s

ci:
	bash .ci/run
