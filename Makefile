# The pipeline as a dependency graph on real files. `make help` explains it.
#
#   data ──> checkpoint ──> latents ──> stats ──> generators ──> claims ──> site, pdf
#     └──> face tests (data only: shared by the seeds) ──┴──> decode ─────────────┘
#                                     (other runs of [runs]: data .. claims) ──> across ──┘
#
# Every step writes <run>/<step>.manifest.json last; that file is the target,
# so an interrupted step is simply redone. Whether a step is current is decided in one
# place, analysis/pipeline/steps.py's `status` (its config entries, inputs and code as its
# manifest records them, and its outputs' sha256); every recipe below goes through the
# CLI's runner, which asks it and skips a current step, so touching a config is cheap.
# A step's outputs are not make prerequisites: `analysis check` (below) asks the same
# function for every run and lists the steps that are not current (an output deleted or
# edited, or a key changed, e.g. by ARGS='--set ...' that no file time shows), and make
# re-runs them.
#
# Each step is declared once, in analysis/pipeline/steps.py (its inputs, config entries, code
# modules and outputs). The rules below are written out by hand so that the graph reads
# at a glance and `make help` needs no Python; tests/test_steps.py asks make for its
# database and checks that every rule has exactly the declared prerequisites: the
# manifests of the steps it reads from and analysis/<module>.py for each of its code
# modules.

CONFIG ?= configs/default.toml
NAME   := $(basename $(notdir $(CONFIG)))
RUN    ?= build/$(NAME)
# RUN spelled as the CLI prints paths (no trailing "/", "./" or "//"), so that the manifests that
# `analysis check` lists are these very targets (make report RUN=build/x/ works like RUN=build/x).
RUN_ORIGIN := $(origin RUN)
strip_slash = $(if $(filter-out /,$(1)),$(if $(filter %/ %/.,$(1)),$(call strip_slash,$(patsubst %/.,%,$(patsubst %/,%,$(1)))),$(1)),$(1))
override RUN := $(patsubst ./%,%,$(call strip_slash,$(subst /./,/,$(subst //,/,$(subst //,/,$(strip $(RUN)))))))
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
CLI    := $(PY) -m analysis
ARGS   ?=
# The steps in pipeline order, as analysis/pipeline/steps.py declares them (tests/test_steps.py checks).
STEPS  := fetch train encode stats faces generate claims decode
# The artifact schemas (analysis/schemas/); steps that read artifacts depend on every one.
SCHEMAS := $(addprefix analysis/schemas/,base.py files.py data.py train.py encode.py stats.py statscloud.py \
            faces.py generate.py claims.py decode.py across.py provenance.py)
# The code each step's outputs depend on (its declared `code` in analysis/pipeline/steps.py; tests/test_steps.py
# checks): a prerequisite of the step's rule for the primary run and for every other run.
CODE_fetch := analysis/steps/data.py analysis/schemas/base.py analysis/schemas/data.py
CODE_train := analysis/steps/train.py analysis/steps/trainparts.py analysis/steps/trainsave.py \
              analysis/pipeline/model.py analysis/pipeline/network.py analysis/pipeline/checkpoint.py \
              analysis/schemas/base.py analysis/schemas/train.py
CODE_encode := analysis/steps/encode.py analysis/pipeline/model.py analysis/pipeline/network.py \
               analysis/pipeline/checkpoint.py analysis/steps/train.py analysis/steps/trainparts.py \
               analysis/steps/trainsave.py analysis/schemas/base.py analysis/schemas/encode.py \
               analysis/schemas/train.py
CODE_stats := analysis/steps/stats.py analysis/steps/statsfigures.py analysis/steps/statsplanes.py \
              analysis/science/geometry.py analysis/science/slices.py analysis/published.py \
              analysis/science/calibration.py analysis/science/intervals.py analysis/science/bscan.py \
              analysis/schemas/base.py analysis/schemas/stats.py analysis/schemas/statscloud.py
CODE_faces := analysis/steps/facetest.py analysis/science/faces.py analysis/steps/instrument.py \
              analysis/artifacts.py analysis/runfiles.py analysis/runviews.py analysis/science/calibration.py \
              analysis/science/intervals.py analysis/science/bscan.py analysis/science/geometry.py \
              analysis/steps/data.py analysis/words.py $(SCHEMAS)
CODE_generate := analysis/steps/generate.py analysis/steps/genjudge.py analysis/steps/genfit.py \
                 analysis/science/generators.py analysis/science/gennames.py analysis/science/genbase.py \
                 analysis/science/genparametric.py analysis/science/genmixture.py analysis/science/metrics.py \
                 analysis/science/calibration.py \
                 analysis/science/intervals.py analysis/science/bscan.py analysis/science/geometry.py \
                 analysis/pipeline/model.py analysis/pipeline/network.py analysis/pipeline/checkpoint.py \
                 analysis/steps/instrument.py analysis/science/faces.py analysis/steps/facecheck.py \
                 analysis/steps/train.py analysis/steps/trainparts.py analysis/steps/trainsave.py \
                 analysis/artifacts.py analysis/runfiles.py analysis/runviews.py analysis/words.py $(SCHEMAS)
CODE_claims := analysis/steps/claims.py analysis/steps/claimfigures.py analysis/steps/claimmeasures.py \
               analysis/steps/genclaims.py analysis/steps/findings.py analysis/science/ledger.py \
               analysis/science/calibration.py analysis/science/intervals.py analysis/science/bscan.py \
               analysis/science/nulls.py analysis/science/normality.py analysis/science/slices.py \
               analysis/science/geometry.py analysis/science/metrics.py analysis/published.py \
               analysis/artifacts.py analysis/runfiles.py analysis/runviews.py analysis/words.py $(SCHEMAS)
CODE_decode := analysis/steps/decode.py analysis/science/probes.py analysis/science/export.py \
               analysis/artifacts.py analysis/runfiles.py analysis/runviews.py analysis/science/calibration.py \
               analysis/science/intervals.py analysis/science/bscan.py analysis/science/geometry.py \
               analysis/science/metrics.py analysis/pipeline/model.py analysis/pipeline/network.py \
               analysis/pipeline/checkpoint.py analysis/steps/instrument.py analysis/science/faces.py \
               analysis/steps/facecheck.py analysis/steps/train.py analysis/steps/trainparts.py \
               analysis/steps/trainsave.py analysis/words.py $(SCHEMAS)
CODE_across := analysis/steps/across.py analysis/artifacts.py analysis/runfiles.py analysis/runviews.py \
               analysis/pipeline/runs.py analysis/science/ledger.py analysis/steps/findings.py \
               analysis/science/calibration.py analysis/science/intervals.py analysis/science/bscan.py \
               analysis/science/geometry.py analysis/published.py analysis/words.py $(SCHEMAS)
.DEFAULT_GOAL := help
.PHONY: help setup data train encode stats faces decode generate claims across all test bench reliability-table clean distclean FORCE

help: ## list the targets
	@echo "Usage: make TARGET [CONFIG=configs/NAME.toml] [ARGS='--set k=v ...']"
	@echo
	@grep -hE '^[a-z][a-zA-Z_-]*:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'
	@echo
	@echo "Outputs of CONFIG=$(CONFIG) go to $(RUN)/; the article goes to _site/<version>/."

$(STAMP): pyproject.toml
	@test -d $(VENV) || python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -e '.[report,test]'
	@touch $@

setup: $(STAMP) ## create .venv with the pinned packages; install TeX/Chromium if missing
	@bash tools/setup-system.sh

# A step's code is one of its inputs: the CLI re-runs a step when its config sections,
# its input files or its source changed, and otherwise only marks it fresh (cheap).
# The config file is a prerequisite of the first step only: the others follow it.
$(RUN)/fetch.manifest.json: $(CONFIG) $(CODE_fetch) | setup
	$(CLI) fetch --config $(CONFIG) --out $(RUN) $(ARGS) $(STEP_SET)

$(RUN)/train.manifest.json: $(RUN)/fetch.manifest.json $(CODE_train)
	$(CLI) train --config $(CONFIG) --out $(RUN) $(ARGS) $(STEP_SET)

$(RUN)/encode.manifest.json: $(RUN)/fetch.manifest.json $(RUN)/train.manifest.json $(CODE_encode)
	$(CLI) encode --config $(CONFIG) --out $(RUN) $(ARGS) $(STEP_SET)

$(RUN)/stats.manifest.json: $(RUN)/encode.manifest.json $(CODE_stats)
	$(CLI) stats --config $(CONFIG) --out $(RUN) $(ARGS) $(STEP_SET)

# Two steps of one run never run at once: each holds its run's lock, and a second one waits for it
# in a job slot. The face tests are the one step off a run's chain (fetch, train, encode, stats,
# generate, claims), so in the second make of several runs (below) they come after the run's stats:
# a run's steps then follow one another and every job slot computes (before, a run's face tests
# waited out its training in a slot). $(call faces_after,RUN_DIR): that order-only prerequisite.
faces_after = $(if $(RUNS_SUBMAKE),| $(1)/stats.manifest.json)

$(RUN)/faces.manifest.json: $(RUN)/fetch.manifest.json $(CODE_faces) $(call faces_after,$(RUN))
	$(CLI) faces --config $(CONFIG) --out $(RUN) $(ARGS) $(STEP_SET)

$(RUN)/generate.manifest.json: $(RUN)/fetch.manifest.json $(RUN)/train.manifest.json \
                               $(RUN)/encode.manifest.json $(RUN)/stats.manifest.json $(RUN)/faces.manifest.json $(CODE_generate)
	$(CLI) generate --config $(CONFIG) --out $(RUN) $(ARGS) $(STEP_SET)

$(RUN)/claims.manifest.json: $(RUN)/fetch.manifest.json $(RUN)/encode.manifest.json $(RUN)/stats.manifest.json \
                             $(RUN)/generate.manifest.json $(CODE_claims)
	$(CLI) claims --config $(CONFIG) --out $(RUN) $(ARGS) $(STEP_SET)

$(RUN)/decode.manifest.json: $(RUN)/train.manifest.json $(RUN)/encode.manifest.json $(RUN)/stats.manifest.json \
                             $(RUN)/faces.manifest.json $(CODE_decode)
	$(CLI) decode --config $(CONFIG) --out $(RUN) $(ARGS) $(STEP_SET)

# ---- Several runs of one config ([runs]: seeds, variants, a sweep; analysis/pipeline/runs.py).
# The primary run is $(RUN) itself (the rules above). The others live in $(RUN)/runs/<name>/,
# with one pattern rule per step (the stem is the run's name; `python -m analysis runs` lists
# the directories). With several runs every run's pipeline, the primary's included, is made
# by a second make, RUNS_JOBS steps at a time with one torch thread each: two single-thread
# trainings side by side took less time than one after the other with two threads on 2 cores
# (make bench: runs_concurrent_vs_sequential), and only these pipelines run in parallel. Each
# line of a run starts with [<run name>]. The config-level step `across` then reads every run
# ($(RUN)/across/). RUNS_JOBS=1: one step at a time, with all threads.
RUNS_JOBS ?= 2
RUNS      := $(RUN)/runs
STEP_SET   = $(if $(RUNS_SUBMAKE),$(if $(filter 1,$(RUNS_JOBS)),,--set run.threads=1))

$(RUNS)/%/fetch.manifest.json: $(RUN)/fetch.manifest.json $(CODE_fetch)
	$(CLI) fetch --config $(CONFIG) --out $(RUN) --run $* $(ARGS) $(STEP_SET)

$(RUNS)/%/train.manifest.json: $(RUNS)/%/fetch.manifest.json $(CODE_train)
	$(CLI) train --config $(CONFIG) --out $(RUN) --run $* $(ARGS) $(STEP_SET)

$(RUNS)/%/encode.manifest.json: $(RUNS)/%/fetch.manifest.json $(RUNS)/%/train.manifest.json $(CODE_encode)
	$(CLI) encode --config $(CONFIG) --out $(RUN) --run $* $(ARGS) $(STEP_SET)

$(RUNS)/%/stats.manifest.json: $(RUNS)/%/encode.manifest.json $(CODE_stats)
	$(CLI) stats --config $(CONFIG) --out $(RUN) --run $* $(ARGS) $(STEP_SET)

# (the face tests depend on the data alone: once the primary's are made, a seed links them)
$(RUNS)/%/faces.manifest.json: $(RUNS)/%/fetch.manifest.json $(RUN)/faces.manifest.json $(CODE_faces) \
                               $(call faces_after,$(RUNS)/%)
	$(CLI) faces --config $(CONFIG) --out $(RUN) --run $* $(ARGS) $(STEP_SET)

$(RUNS)/%/generate.manifest.json: $(RUNS)/%/fetch.manifest.json $(RUNS)/%/train.manifest.json \
                                  $(RUNS)/%/encode.manifest.json $(RUNS)/%/stats.manifest.json \
                                  $(RUNS)/%/faces.manifest.json $(CODE_generate)
	$(CLI) generate --config $(CONFIG) --out $(RUN) --run $* $(ARGS) $(STEP_SET)

$(RUNS)/%/claims.manifest.json: $(RUNS)/%/fetch.manifest.json $(RUNS)/%/encode.manifest.json \
                                $(RUNS)/%/stats.manifest.json $(RUNS)/%/generate.manifest.json $(CODE_claims)
	$(CLI) claims --config $(CONFIG) --out $(RUN) --run $* $(ARGS) $(STEP_SET)

# (made only on request, e.g. `make build/<config>/runs/<name>/decode.manifest.json`: the
# article decodes the primary run only, and `across` does not read it)
$(RUNS)/%/decode.manifest.json: $(RUNS)/%/train.manifest.json $(RUNS)/%/encode.manifest.json \
                                $(RUNS)/%/stats.manifest.json $(RUNS)/%/faces.manifest.json $(CODE_decode)
	$(CLI) decode --config $(CONFIG) --out $(RUN) --run $* $(ARGS) $(STEP_SET)

# Goals that read a run directory (everything but help, setup, test, ...): for them make asks the
# CLI which runs a config has and which outputs were edited or deleted (below).
NEEDS_RUN := $(filter-out help setup test bench reliability-table clean distclean,$(or $(MAKECMDGOALS),$(.DEFAULT_GOAL)))

# The run directories, the primary's first (a bad config gives none: the first CLI call names the problem).
# The CLI needs the virtual environment, so for these goals its stamp is an included (empty) makefile:
# on a fresh clone make creates the environment first and then reads this file again (GNU make
# restarts after remaking an included makefile), so that the first `make report` already knows
# every run of a multi-run config such as configs/default.toml.
ifneq ($(NEEDS_RUN),)
include $(STAMP)
RUN_DIRS := $(if $(wildcard $(STAMP)),$(shell $(CLI) runs --config $(CONFIG) --out $(RUN) $(ARGS) 2>/dev/null))
endif
OTHER_RUNS   := $(filter $(RUNS)/%,$(RUN_DIRS))
OTHER_CLAIMS := $(addsuffix /claims.manifest.json,$(OTHER_RUNS))
ACROSS       := $(if $(OTHER_RUNS),$(RUN)/across.manifest.json)

# Their manifests are targets in their own right, never intermediate files that make removes.
.PRECIOUS: $(foreach s,$(STEPS),$(RUNS)/%/$(s).manifest.json)

ifneq ($(OTHER_RUNS),)
# (the other runs first: their recipe makes the primary run as well, side by side with them)
$(RUN)/across.manifest.json: $(OTHER_CLAIMS) $(RUN)/encode.manifest.json $(RUN)/stats.manifest.json \
                             $(RUN)/generate.manifest.json $(RUN)/claims.manifest.json $(CODE_across)
	$(CLI) across --config $(CONFIG) --out $(RUN) $(ARGS)

ifeq ($(RUNS_SUBMAKE),)
# One recipe (a grouped target) makes every run by the second make, when the config (through
# the primary's image cache) or any step's code changed (CODE_<step>: a module no step hashes, such as
# analysis/prose.py, re-runs nothing); each step then skips itself if up to date.
# (Its goal is a name: a run name may hold "=", which make reads as a variable on its command line.)
$(OTHER_CLAIMS) &: $(RUN)/fetch.manifest.json $(sort $(foreach s,$(STEPS),$(CODE_$(s))))
	+$(MAKE) --no-print-directory -j$(RUNS_JOBS) -o setup RUNS_SUBMAKE=1 every-run
else
.PHONY: every-run
every-run: $(RUN)/claims.manifest.json $(OTHER_CLAIMS)
endif
endif

# A manifest newer than its inputs does not prove that the step's outputs are still there.
# This is the one place where make learns that outputs were deleted or edited, or that a
# step's key changed in a way no file time shows: `analysis check` lists the manifests of the
# finished steps, of every run of CONFIG and the across step, that are not current
# (analysis/pipeline/steps.py's `status`, the runner's own decision: outputs deleted or edited
# since, compared by sizes and times and hashed only when changed, so a file touched but not
# changed counts as unchanged; or config entries, inputs or code changed since the step ran),
# and of steps whose manifest was deleted while a later step's is there. Those manifests get FORCE: their
# recipe runs the step's command, which sees the same change and runs the step again; its
# new manifest then puts the later steps, across and the report out of date in the ordinary
# way. A listed manifest of another run forces the second make that makes them.
# Skipped for targets that need no run directory (help, test, ...), and while .venv does not
# exist yet (a fresh clone: nothing is built either, so every step runs anyway).
ifneq ($(NEEDS_RUN),)
STALE := $(if $(wildcard $(STAMP)),$(shell $(CLI) check --config $(CONFIG) --out $(RUN) $(ARGS) 2>/dev/null))
endif
ifneq ($(STALE),)
$(STALE): FORCE
endif
ifneq ($(filter $(RUNS)/%,$(STALE)),)
$(OTHER_CLAIMS): FORCE
endif
FORCE:

data: $(RUN)/fetch.manifest.json      ## fetch/decode the images into a uint8 cache
train: $(RUN)/train.manifest.json     ## train the autoencoder (resumes if interrupted)
encode: $(RUN)/encode.manifest.json   ## encode every image to latents.npy
stats: $(RUN)/stats.manifest.json     ## measure the latent cloud: components, radii, slices
faces: $(RUN)/faces.manifest.json     ## the face tests (detector, CBCL classifier) and their calibration (data only)
decode: $(RUN)/decode.manifest.json   ## decode planes and paths out of the cloud; the page's decoder
generate: $(RUN)/generate.manifest.json ## fit generators, decode samples, compare metrics
claims: $(RUN)/claims.manifest.json   ## the ledger: each published finding with interval, null, verdict
across: $(or $(ACROSS),claims)        ## every run of CONFIG's [runs], then the runs side by side
all: $(ACROSS) claims decode          ## every analysis step (data .. claims, decode; every run and across)

# The article (site and PDF) is built by report/report.mk.
-include report/report.mk

test: setup ## run the test suite (CPU, both cores; about 4 min 30 s on 2 cores, see README)
	$(PY) -m pytest -q

reliability-table: setup ## regenerate the README's reliability table from the tests
	$(PY) -m pytest -n 0 --collect-only -q --write-reliability-table >/dev/null

$(VENV)/.bench-installed: $(STAMP)
	$(VENV)/bin/pip install -q --disable-pip-version-check -e '.[report,test,bench]'
	@touch $@

bench: setup $(VENV)/.bench-installed ## speed and memory figures, each with its ratio to a baseline (also build/bench.json)
	$(PY) bench/bench.py

# Checked before any rm: RUN is one path that is not /, . or .. (and, when it comes from CONFIG, the
# config's name is a usable name), and it is a run directory the tool made (its marker .flg-run, or a
# step's manifest from an older version): `make clean CONFIG=` never removes build/ itself.
clean: ## remove the run directory of CONFIG (only a run directory the tool made)
	@if [ "$(words $(RUN))" != 1 ] || [ "$(RUN)" = / ] || [ "$(RUN)" = . ] || [ "$(RUN)" = .. ] || \
	   { [ "$(RUN_ORIGIN)" = file ] && { [ -z "$(NAME)" ] || [ "$(NAME)" = . ] || [ "$(NAME)" = .. ]; }; }; then \
	  echo "make clean: CONFIG='$(CONFIG)' RUN='$(RUN)' names no run directory; nothing removed" \
	       "-- give a config file, e.g. make clean CONFIG=configs/smoke.toml" >&2; exit 2; fi
	@if [ ! -e '$(RUN)' ] && [ ! -L '$(RUN)' ]; then echo "make clean: $(RUN) does not exist"; \
	elif { [ -f '$(RUN)/.flg-run' ] && [ ! -L '$(RUN)/.flg-run' ]; } || \
	     { [ -f '$(RUN)/fetch.manifest.json' ] && [ ! -L '$(RUN)/fetch.manifest.json' ]; }; then \
	  echo "rm -rf -- $(RUN)"; rm -rf -- '$(RUN)'; \
	else echo "make clean: $(RUN) is not a run directory made by this tool (no .flg-run in it); nothing" \
	          "removed -- remove it yourself if it is yours to remove" >&2; exit 2; fi

distclean: ## remove all outputs (build/), the site (_site/) and the virtual environment (.venv/)
	rm -rf -- build _site .venv
