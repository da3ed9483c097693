# The article: a versioned HTML site and a citable PDF built from the artifacts of
# $(RUN) (included by the top Makefile; see report/build.py for the details).
#
#   make report                           -> _site/<version>/ (site + PDF) for configs/default.toml
#   make report CONFIG=configs/smoke.toml -> _site/<version>-smoke/ in seconds
#   make report CONFIG=configs/compare.toml -> _site/<version>-compare/: latent sizes side by side
#
# The target is a marker file inside the version directory, with the run's manifests
# (and, with several runs, the across step's), the run's config.toml and the report's
# sources as prerequisites: with nothing changed, a second `make report` does nothing.
# The chapters are executed afresh on every build (no notebook cache), so a changed
# artifact always shows.
#
# The artifacts themselves are not prerequisites: a manifest vouches for its step's
# outputs. A deleted or edited artifact is made again by the Makefile's `analysis check`
# (see there: it lists the step, of any run, whose outputs no longer match its manifest,
# and make re-runs it); the re-run step writes or touches its manifest, so the steps after
# it and then this marker are out of date. A missing config.toml is written again by the
# (cheap, up-to-date) fetch command.
#
# build.py gets CONFIG and the ARGS of the analysis commands (after --): it refuses, with
# exit status 2 and one line naming the file, a run whose config is not CONFIG's (with
# ARGS' --set overrides) and artifacts that do not match their step's manifest.

SITE           ?= _site
REPORT_VERSION := $(shell sed -n 's/^version *= *"\([^"]*\)".*/\1/p' pyproject.toml | head -n 1)
REPORT_LABEL   ?= $(if $(filter default,$(NAME)),$(REPORT_VERSION),$(REPORT_VERSION)-$(NAME))
REPORT_FORMATS ?= html,pdf
REPORT_JOBS    ?= 2
REPORT_URL     ?=
# The label and the sources follow the rules of report/meta.py (version_label) and
# report/build.py (source_files), which tests/test_report.py checks them against: make
# needs them before the virtual environment (and so Python's packages) exists.
REPORT_SOURCES := $(shell find report -type f \( -name '*.md' -o -name '*.py' -o -name '*.html' \
                    -o -name '*.js' -o -name '*.css' -o -name '*.mk' \) -not -path '*/__pycache__/*' 2>/dev/null) \
                  analysis/artifacts.py analysis/runfiles.py analysis/runviews.py analysis/words.py analysis/prose.py \
                  configs/celeba.toml pyproject.toml \
                  $(wildcard analysis/charts/*.py) $(wildcard analysis/schemas/*.py)
comma          := ,
REPORT_MARKER  := $(SITE)/$(REPORT_LABEL)/.built-$(subst $(comma),-,$(REPORT_FORMATS))

.PHONY: report report-serve citation

report: $(REPORT_MARKER) ## build the article (HTML site + PDF) into _site/<version>/

$(REPORT_MARKER): $(ACROSS) $(RUN)/claims.manifest.json $(RUN)/generate.manifest.json $(RUN)/decode.manifest.json \
                  $(RUN)/faces.manifest.json \
                  $(RUN)/stats.manifest.json $(RUN)/train.manifest.json \
                  $(RUN)/config.toml $(REPORT_SOURCES) | setup
	$(PY) report/build.py --run $(RUN) --config $(CONFIG) --site $(SITE) --label $(REPORT_LABEL) \
	  --formats $(REPORT_FORMATS) --jobs $(REPORT_JOBS) $(if $(REPORT_URL),--url $(REPORT_URL)) -- $(ARGS)

$(RUN)/config.toml: | $(RUN)/fetch.manifest.json
	$(CLI) fetch --config $(CONFIG) --out $(RUN) $(ARGS)

citation: ## rewrite the repository's CITATION.cff (version from pyproject.toml, default title/authors)
	$(PY) report/meta.py

REPORT_PORT ?= 8000
report-serve: ## serve the published site on http://127.0.0.1:8000 (this machine only; also works from file://)
	$(PY) report/serve.py --site $(SITE) --port $(REPORT_PORT)
