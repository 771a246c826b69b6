#!/usr/bin/env bash
# build.sh [engine|harness|frontend|trivy|trivy-path|gitea|sigstore|k8s|all]: build the harness binaries,
# cached under $SLIPWAY_CACHE and keyed by the Dagger version, the Go version
# and the tools modules' go.mod/go.sum/sources:
#   engine    engine, dagger, init, dnsname, codegen (hack/engine, Dagger v0.19.10)
#   harness   harness (hack/engine/cmd/harness)
#   frontend  dockerfile-frontend (hack/tools/dockerfile-frontend, BuildKit)
#   trivy     trivy (hack/tools/trivy; cold: about 8 minutes and 3.5 GB of RAM)
#   trivy-path  where trivy's binary is (or will be); builds nothing
#   sigstore  Fulcio, Rekor v2 and the cosign v3 CLI of the keyless signing tests
#             (hack/tools/fulcio, rekor-tiles, cosign3; cold: about 5 minutes); the
#             timestamp authority, the project's own main, is built by testutil.Tool
#   k8s       the Kubernetes control plane and Flux of the verification tests:
#             kube (apiserver, controller-manager, scheduler, kubectl in one
#             binary), etcd, kwok, Flux source- and kustomize-controller
#             (hack/tools/kube, etcd, kwok, flux-source, flux-kustomize; cold:
#             about 25 minutes and 3 GB of RAM); not part of all
#   gitea     the Gitea server the e2e tests open pull requests on (hack/tools/gitea;
#             cgo; cold: about 7 minutes and 1.6 GB of RAM); not part of all
# Prints the directory holding each group's binaries on stdout, one a line
# (all: engine, harness, frontend, then the trivy binary itself). A warm run
# builds nothing.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

what="${1:-all}"
mod="$SLIPWAY_ROOT/hack/engine"
gover="$(go env GOVERSION)"
ldflags="-s -w -X github.com/dagger/dagger/engine.Version=$DAGGER_VERSION -X github.com/dagger/dagger/engine.Tag=$DAGGER_VERSION"

cd "$mod"
mkdir -p "$SLIPWAY_CACHE/engine"

# build_into KEYDIR PKG...: go build the packages into KEYDIR unless it is complete.
build_into() {
	local dir="$1"; shift
	if [ -f "$dir/.complete" ]; then
		touch "$dir" # used: kept by the pruning below
		return 0
	fi
	exec 9>"$dir.lock"
	flock 9
	if [ -f "$dir/.complete" ]; then
		exec 9>&-
		return 0
	fi
	rm -rf "$dir.tmp"
	mkdir -p "$dir.tmp"
	log "building $* (cold: several minutes) into $dir"
	CGO_ENABLED=0 GOFLAGS="-buildvcs=false -mod=readonly" \
		go build -trimpath -ldflags "$ldflags" -o "$dir.tmp/" "$@"
	touch "$dir.tmp/.complete"
	rm -rf "$dir"
	mv "$dir.tmp" "$dir"
	exec 9>&-
}

engine_key="$(hash_files go.mod go.sum tools.go distconsts/go.mod distconsts/distconsts.go <(echo "$gover $DAGGER_VERSION $ldflags"))"
engine_dir="$SLIPWAY_CACHE/engine/dagger-$DAGGER_VERSION-$engine_key"

mapfile -t harness_src < <(find . -path ./distconsts -prune -o -type f \( -name '*.go' -o -name 'go.mod' -o -name 'go.sum' -o -name '*.sh' \) -print | LC_ALL=C sort)
harness_key="$(hash_files "${harness_src[@]}" <(echo "$gover"))"
harness_dir="$SLIPWAY_CACHE/engine/harness-$harness_key"

frontend_mod="$SLIPWAY_ROOT/hack/tools/dockerfile-frontend"
frontend_key="$(cd "$frontend_mod" && hash_files go.mod go.sum pkg <(echo "$gover"))"
frontend_dir="$SLIPWAY_CACHE/engine/dockerfile-frontend-$frontend_key"

# tool_bin NAME: build hack/tools/NAME exactly as the tests' testutil.Tool
# does (same flags, same cache file $SLIPWAY_CACHE/tools/NAME-<key>, same
# lock), so that the unit tests and the harness share one build. The key is
# testutil's: sha256 over go.mod, go.sum, pkg, the optional env and ldflags
# files, and the Go version. Prints the binary's path.
# A tool with Go sources of its own (a main of the project's, such as
# hack/tools/kube) is keyed by them too, each as "<path>\n<contents>", as
# testutil hashes them.
tool_path() {
	local name="$1" dir="$SLIPWAY_ROOT/hack/tools/$1" k f
	local -a files=(go.mod go.sum pkg) srcs=()
	for f in env ldflags; do
		if [ -f "$dir/$f" ]; then files+=("$f"); fi
	done
	mapfile -t srcs < <(cd "$dir" && find . -name '*.go' ! -name tools.go -type f | sed 's#^\./##' | LC_ALL=C sort)
	k="$(cd "$dir" && {
		cat "${files[@]}"
		for f in "${srcs[@]}"; do
			printf '%s\n' "$f"
			cat "$f"
		done
		printf '%s' "$gover"
	} | sha256sum | cut -c1-12)"
	echo "$SLIPWAY_CACHE/tools/$name-$k"
}

tool_bin() {
	local name="$1" dir="$SLIPWAY_ROOT/hack/tools/$1" bin
	local -a extra=() ldf=()
	bin="$(tool_path "$name")"
	mkdir -p "$SLIPWAY_CACHE/tools"
	if [ ! -f "$bin" ]; then
		exec 9>"$bin.lock"
		flock 9
		if [ ! -f "$bin" ]; then
			[ -f "$dir/env" ] && mapfile -t extra < <(grep -v '^[[:space:]]*\(#\|$\)' "$dir/env")
			[ -f "$dir/ldflags" ] && ldf=(-ldflags "$(cat "$dir/ldflags")")
			log "building $(cat "$dir/pkg") (hack/tools/$name; cold: several minutes) into $bin"
			(cd "$dir" && env CGO_ENABLED=0 GOFLAGS=-mod=mod GOWORK=off "${extra[@]}" \
				go build -trimpath "${ldf[@]}" -o "$bin.tmp" "$(cat pkg)") >&2
			mv "$bin.tmp" "$bin"
		fi
		exec 9>&-
	fi
	echo "$bin"
}

case "$what" in
engine|all)
	build_into "$engine_dir" \
		github.com/dagger/dagger/cmd/engine \
		github.com/dagger/dagger/cmd/dagger \
		github.com/dagger/dagger/cmd/init \
		github.com/dagger/dagger/cmd/dnsname \
		github.com/dagger/dagger/cmd/codegen
	;;
esac
case "$what" in
harness|all)
	build_into "$harness_dir" ./cmd/harness
	;;
esac
case "$what" in
frontend|all)
	(cd "$frontend_mod" && ldflags="-s -w" build_into "$frontend_dir" "$(cat pkg)")
	;;
esac
trivy_bin=""
gitea_bin=""
case "$what" in
trivy|all)
	trivy_bin="$(tool_bin trivy)"
	;;
trivy-path)
	trivy_bin="$(tool_path trivy)"
	;;
gitea)
	gitea_bin="$(tool_bin gitea)"
	;;
sigstore)
	sigstore_bins=("$(tool_bin fulcio)" "$(tool_bin rekor-tiles)" "$(tool_bin cosign3)")
	;;
k8s)
	k8s_bins=("$(tool_bin kube)" "$(tool_bin etcd)" "$(tool_bin kwok)" "$(tool_bin flux-source)" "$(tool_bin flux-kustomize)")
	;;
esac
# Builds unused for two weeks (older versions, other branches) go.
find "$SLIPWAY_CACHE/engine" -mindepth 1 -maxdepth 1 -type d \( -name 'harness-*' -o -name 'dagger-*' -o -name 'dockerfile-frontend-*' \) \
	-mtime +14 -exec rm -rf {} + 2>/dev/null || true

case "$what" in
engine) echo "$engine_dir" ;;
harness) echo "$harness_dir" ;;
frontend) echo "$frontend_dir" ;;
trivy|trivy-path) echo "$trivy_bin" ;;
sigstore) printf '%s\n' "${sigstore_bins[@]}" ;;
k8s) printf '%s\n' "${k8s_bins[@]}" ;;
gitea) echo "$gitea_bin" ;;
all) printf '%s\n%s\n%s\n%s\n' "$engine_dir" "$harness_dir" "$frontend_dir" "$trivy_bin" ;;
*) die "usage: build.sh [engine|harness|frontend|trivy|trivy-path|gitea|sigstore|k8s|all]" ;;
esac
