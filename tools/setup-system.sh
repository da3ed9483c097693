#!/usr/bin/env bash
# Install the Debian packages the report and its tests need (TeX Live for the PDF,
# poppler-utils for PDF checks, Chromium for the offline browser tests), if missing.
# Installs with apt-get when running as root; otherwise prints the command to run.
set -euo pipefail
PKGS="latexmk texlive-latex-recommended texlive-latex-extra texlive-fonts-recommended tex-gyre poppler-utils chromium fonts-dejavu-core"
missing=""
command -v latexmk   >/dev/null 2>&1 || missing="yes"
command -v pdflatex  >/dev/null 2>&1 || missing="yes"
command -v pdftotext >/dev/null 2>&1 || missing="yes"
command -v chromium  >/dev/null 2>&1 || missing="yes"
kpsewhich tgtermes.sty >/dev/null 2>&1 || missing="yes"
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "setup: installing Debian packages: $PKGS"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends $PKGS >/dev/null
else
  echo "setup: TeX Live, poppler-utils or Chromium is missing. Run:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y $PKGS" >&2
  exit 1
fi
