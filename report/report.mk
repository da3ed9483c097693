# The article: a versioned HTML site and a citable PDF built from the artifacts of
# $(RUN) (included by the top Makefile; see report/build.py for the details).
#
#   make report                           -> _site/<version>/ (site + PDF) for configs/default.toml
#   make report CONFIG=configs/smoke.toml -> _site/<version>-smoke/ in seconds
#
# The target is a marker file inside the version directory, with the run's manifests,
# the artifacts the chapters read and the report's sources as prerequisites: with
# nothing changed, a second `make report` does nothing. The chapters are executed
# afresh on every build (no notebook cache), so a changed artifact always shows.

SITE           ?= _site
REPORT_VERSION := $(shell sed -n 's/^version *= *"\([^"]*\)".*/\1/p' pyproject.toml | head -n 1)
REPORT_LABEL   ?= $(if $(filter default,$(NAME)),$(REPORT_VERSION),$(REPORT_VERSION)-$(NAME))
REPORT_FORMATS ?= html,pdf
REPORT_JOBS    ?= 2
REPORT_URL     ?=
REPORT_SOURCES := $(shell find report -type f \( -name '*.md' -o -name '*.py' -o -name '*.html' \
                    -o -name '*.js' -o -name '*.css' \) -not -path '*/__pycache__/*' 2>/dev/null) \
                  analysis/charts.py analysis/artifacts.py configs/celeba.toml pyproject.toml
REPORT_READS   := $(RUN)/config.toml $(RUN)/data/info.json $(RUN)/train/history.json $(RUN)/train/timing.json \
                  $(RUN)/encode/summary.json $(RUN)/encode/reconstructions.npz $(RUN)/encode/gallery.npz \
                  $(RUN)/stats/stats.json $(RUN)/stats/arrays.npz
comma          := ,
REPORT_MARKER  := $(SITE)/$(REPORT_LABEL)/.built-$(subst $(comma),-,$(REPORT_FORMATS))

.PHONY: report report-serve

report: $(REPORT_MARKER) ## build the article (HTML site + PDF) into _site/<version>/

$(REPORT_MARKER): $(RUN)/generate.manifest.json $(RUN)/stats.manifest.json $(RUN)/train.manifest.json \
                  $(REPORT_SOURCES) | setup
	$(PY) report/build.py --run $(RUN) --site $(SITE) --label $(REPORT_LABEL) \
	  --formats $(REPORT_FORMATS) --jobs $(REPORT_JOBS) $(if $(REPORT_URL),--url $(REPORT_URL))

# The artifacts the chapters read are made by the analysis steps; listing them here lets
# make notice a hand-edited artifact (the rule has no recipe of its own).
$(REPORT_MARKER): $(wildcard $(REPORT_READS) $(RUN)/generate/metrics.json)

report-serve: ## serve _site on http://localhost:8000 (it also works from file://)
	$(PY) -m http.server --directory $(SITE) 8000
