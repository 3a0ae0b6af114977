#!/usr/bin/env bash
# Rewrites every golden file of the repository from the current code (make
# update). Each lives under the testdata/ of the package whose tests write it
# with -update:
#   spawner/internal/podspec  session and app pods, Secrets, PVC, NetworkPolicy
#   spawner/internal/profile  the profile form and the public profile list
#   launcher/menu             the desktop menu's files (testdata/golden/**)
#   helm                      the chart's renders; helm itself comes from
#                             hack/helm.sh (built once, ~1.5 min)
# hack/verify.sh fails on a golden file anywhere else, so one a new package
# adds cannot be left out of this list unnoticed.
#
# Usage: hack/update.sh [all|go|helm|dirs]   (default: all)
#   dirs  print the folders golden files may live in, one a line
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

go_packages=(spawner/internal/podspec spawner/internal/profile launcher/menu)
helm_package=helm

update_go() { go test -count=1 "${go_packages[@]/#/./}" -update; }
update_helm() { go test -count=1 "./$helm_package/" -run TestGolden -update; }

case ${1:-all} in
  all) update_go; update_helm ;;
  go) update_go ;;
  helm) update_helm ;;
  dirs) printf '%s/testdata/\n' "${go_packages[@]}" "$helm_package" ;;
  *) echo "usage: hack/update.sh [all|go|helm|dirs]" >&2; exit 2 ;;
esac
