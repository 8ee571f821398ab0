#!/usr/bin/env bash
# Debian packages the test suite needs beyond PyPI: headless chromium and its WebDriver, which
# the browser test drives over a real report.html, and the URW and Liberation font families the
# "unseen" watermark style draws (aepipe.degrade.unseen_style), and the families the wide
# training style adds (aepipe.degrade.wide_train_style). Idempotent; `make test` calls it.
set -euo pipefail
packages=(chromium chromium-driver fonts-dejavu-core fonts-liberation fonts-urw-base35
  fonts-noto-core fonts-lato fonts-open-sans fonts-freefont-ttf fonts-crosextra-carlito
  fonts-cantarell fonts-comic-neue fonts-linuxlibertine)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null; then
  echo "the tests need ${missing[*]} (Debian packages); install them by hand" >&2
  exit 1
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing ${missing[*]} (Debian packages for the tests)" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
