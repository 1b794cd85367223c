# Shortcuts for the example app (example-app/) and the workspace; `make help` lists them.
#
# The database is DATABASE_URL, by default the SQLite file example-app.db in this directory
# (the one `make run` serves). Revision files are written by the `revchain` tool, built
# from this workspace; upgrades and downgrades run through the app's own embedded CLI
# (`example-app migrate …`), the same code that runs in production.

export DATABASE_URL ?= sqlite://example-app.db
export MSG

MIGRATIONS ?= example-app/migrations
REVCHAIN ?= cargo run --quiet -p revchain --bin revchain -- --dir $(MIGRATIONS)
APP ?= cargo run --quiet -p example-app --

.PHONY: help migrate-create migrate-check migrate-up migrate-down migrate-current migrate-history run test

help:
	@echo 'make migrate-create MSG="add users.phone"  autogenerate a revision from example-app/schema.sql'
	@echo 'make migrate-check                          fail if the migrations do not produce schema.sql'
	@echo 'make migrate-up                             upgrade the database to head'
	@echo 'make migrate-down                           downgrade the database one revision'
	@echo 'make migrate-current                        show the database revision'
	@echo 'make migrate-history                        list the revisions, newest first'
	@echo 'make run                                    run the example app (migrates, then serves)'
	@echo 'make test                                   run every test (needs PostgreSQL and MariaDB, see .ci/run)'

migrate-create:
	@if [ -z "$$MSG" ]; then echo 'usage: make migrate-create MSG="add users.phone"' >&2; exit 2; fi
	$(REVCHAIN) revision --autogenerate -m "$$MSG" --schema example-app/schema.sql

migrate-check:
	$(REVCHAIN) check --schema example-app/schema.sql

migrate-up:
	$(APP) migrate upgrade head

migrate-down:
	$(APP) migrate downgrade -1

migrate-current:
	$(REVCHAIN) current

migrate-history:
	$(REVCHAIN) history

run:
	cargo run -p example-app

test:
	cargo test --workspace
