package images

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/slipwayci/slipway/hack/engine/internal/layer"
)

// BusyboxBinary is Debian's busybox-static (hack/setup.sh installs it).
const BusyboxBinary = "/bin/busybox"

// CABundle is the host's CA bundle from Debian's ca-certificates.
const CABundle = "/etc/ssl/certs/ca-certificates.crt"

const passwd = `root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
nonroot:x:65532:65532:nonroot:/home/nonroot:/bin/false
`

const group = `root:x:0:
nobody:x:65534:
nonroot:x:65532:
`

// busyboxBinary is Debian's static busybox for b's architecture: the
// host's, or the one Debian's busybox-static package installs for a foreign
// architecture (read from the cached layer of that install).
func (b *Builder) busyboxBinary(ctx context.Context) ([]byte, error) {
	if !b.foreign() {
		bin, err := os.ReadFile(BusyboxBinary)
		if err != nil {
			return nil, fmt.Errorf("reading %s (installed by hack/setup.sh from busybox-static): %w", BusyboxBinary, err)
		}
		return bin, nil
	}
	l, err := b.DerivedLayer(ctx, Derived{Name: "busybox-static", Packages: []string{"busybox-static"}})
	if err != nil {
		return nil, err
	}
	rc, err := l.Uncompressed()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil, fmt.Errorf("no bin/busybox in the linux/%s busybox-static layer", b.arch())
		}
		if err != nil {
			return nil, err
		}
		if h.Typeflag == tar.TypeReg && (h.Name == "usr/bin/busybox" || h.Name == "bin/busybox") {
			return io.ReadAll(tr)
		}
	}
}

// BusyboxLayer is a minimal root filesystem: Debian's static busybox with
// its applet links, users root, nobody and nonroot (65532), and a CA bundle.
// The applet list is the host busybox's: both come from the same Debian
// package version.
func (b *Builder) BusyboxLayer(ctx context.Context) (v1.Layer, error) {
	bin, err := b.busyboxBinary(ctx)
	if err != nil {
		return nil, err
	}
	ca, err := os.ReadFile(CABundle)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", CABundle, err)
	}
	k := key("busybox v1", string(bin), string(ca), passwd, group)
	return b.cached("busybox"+b.archSuffix(), k, func() (layer.Spec, func(), error) {
		out, err := exec.Command(BusyboxBinary, "--list-full").Output()
		if err != nil {
			return layer.Spec{}, nil, fmt.Errorf("busybox --list-full: %w", err)
		}
		dir := func(p string, mode fs.FileMode) layer.Entry {
			return layer.Entry{Path: p, Mode: fs.ModeDir | mode}
		}
		es := []layer.Entry{
			dir("bin", 0o755), dir("sbin", 0o755), dir("usr/bin", 0o755), dir("usr/sbin", 0o755),
			dir("usr/local/bin", 0o755), dir("etc", 0o755), dir("etc/ssl/certs", 0o755),
			dir("root", 0o700), dir("tmp", 0o777|fs.ModeSticky), dir("var/tmp", 0o777|fs.ModeSticky),
			dir("home", 0o755), {Path: "home/nonroot", Mode: fs.ModeDir | 0o755, UID: 65532, GID: 65532},
			dir("dev", 0o755), dir("proc", 0o555), dir("sys", 0o555), dir("run", 0o755),
			{Path: "bin/busybox", Mode: 0o755, Data: bin},
			{Path: "etc/passwd", Mode: 0o644, Data: []byte(passwd)},
			{Path: "etc/group", Mode: 0o644, Data: []byte(group)},
			{Path: "etc/nsswitch.conf", Mode: 0o644, Data: []byte("hosts: files dns\n")},
			{Path: "etc/ssl/certs/ca-certificates.crt", Mode: 0o644, Data: ca},
		}
		for _, line := range bytes.Split(bytes.TrimSpace(out), []byte("\n")) {
			p := strings.TrimSpace(string(line))
			if p == "" || p == "bin/busybox" {
				continue
			}
			es = append(es, layer.Entry{Path: p, Mode: fs.ModeSymlink | 0o777, Target: "/bin/busybox"})
		}
		return layer.Spec{Entries: es}, nil, nil
	})
}
