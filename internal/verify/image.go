package verify

import (
	"regexp"
	"strings"
)

// imageRef is a parsed image reference.
type imageRef struct {
	// repo is the normalized repository: lower-case registry host, Docker
	// Hub's implicit host and library/ spelled out.
	repo   string
	tag    string
	digest string
}

// parseImage splits an image reference ("host:5000/shop/orders:1.2@sha256:…")
// into repository, tag and digest. A colon before the last slash belongs
// to the registry's port, not to a tag.
func parseImage(ref string) imageRef {
	var r imageRef
	ref = strings.TrimSpace(ref)
	if i := strings.IndexByte(ref, '@'); i >= 0 {
		ref, r.digest = ref[:i], ref[i+1:]
	}
	if i := strings.LastIndexByte(ref, ':'); i > strings.LastIndexByte(ref, '/') {
		ref, r.tag = ref[:i], ref[i+1:]
	}
	r.repo = normalizeRepo(ref)
	return r
}

// normalizeRepo spells a repository the way a runtime resolves it, so that
// "nginx", "docker.io/nginx" and "index.docker.io/library/nginx" compare
// equal.
func normalizeRepo(repo string) string {
	host, rest, ok := strings.Cut(repo, "/")
	if !ok || (!strings.ContainsAny(host, ".:") && host != "localhost") {
		host, rest = "docker.io", repo
	}
	host = strings.ToLower(host)
	if host == "index.docker.io" || host == "registry-1.docker.io" {
		host = "docker.io"
	}
	if host == "docker.io" && !strings.Contains(rest, "/") {
		rest = "library/" + rest
	}
	return host + "/" + rest
}

var digestRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// shortDigest abbreviates "sha256:<64 hex>" to "sha256:<12 hex>…".
func shortDigest(d string) string {
	if len(d) > len("sha256:")+12 {
		return d[:len("sha256:")+12] + "…"
	}
	return d
}

// runsDigest reports whether a container status says the container runs
// digest. The image ID is what a real runtime reports
// ("<repository>@sha256:<digest>", or "docker-pullable://…" from Docker);
// a runtime that reports none (a fake kubelet) is judged by the image
// reference it reports instead.
func runsDigest(imageID, image, digest string) bool {
	if imageID != "" {
		return imageID == digest || strings.HasSuffix(imageID, "@"+digest)
	}
	return image != "" && strings.HasSuffix(image, "@"+digest)
}

// reportedImage is what a container status says the container runs, for
// messages.
func reportedImage(imageID, image string) string {
	if imageID != "" {
		return strings.TrimPrefix(imageID, "docker-pullable://")
	}
	if image != "" {
		return image
	}
	return "nothing reported"
}
