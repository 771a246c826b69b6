package images

import (
	"context"
	_ "embed"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/slipwayci/slipway/hack/engine/internal/layer"
)

// Suite is the Debian release of the Debian-based images.
const Suite = "bookworm"

//go:embed debian-base.sh
var baseScript string

//go:embed debian-derive.sh
var deriveScript string

// Derived describes a Debian image layer: packages installed over the base.
type Derived struct {
	// Name of the layer ("python").
	Name string
	// Packages passed to apt-get install.
	Packages []string
	// Post is a shell script run in the root filesystem after the install.
	Post string
}

// debianDirs returns the cache directories shared by the Debian builds.
func (b *Builder) debianDirs() (debs, lists, archives string, err error) {
	root := filepath.Join(b.Cache, "debian")
	debs, lists, archives = filepath.Join(root, "debs"), filepath.Join(root, "lists"), filepath.Join(root, "archives")
	for _, d := range []string{debs, filepath.Join(lists, "partial"), filepath.Join(archives, "partial")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return "", "", "", err
		}
	}
	return debs, lists, archives, nil
}

func (b *Builder) baseKey() string {
	if b.foreign() {
		return key("debian base v1", Suite, b.DebianMirror, b.DebianSecurityMirror, baseScript, b.arch())
	}
	return key("debian base v1", Suite, b.DebianMirror, b.DebianSecurityMirror, baseScript)
}

// DebianRootfs returns the directory of the slim Debian root filesystem,
// running debootstrap on the first call.
func (b *Builder) DebianRootfs(ctx context.Context) (string, error) {
	dir := filepath.Join(b.Cache, "debian", "rootfs-"+b.baseKey())
	if _, err := os.Stat(filepath.Join(dir, "etc", "debian_version")); err == nil {
		return dir, nil
	}
	debs, _, _, err := b.debianDirs()
	if err != nil {
		return "", err
	}
	b.logf("  debootstrap --variant=minbase --arch=%s %s (cold: a few minutes)", b.arch(), Suite)
	tmp := dir + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, "bash", "-c", baseScript, "debian-base.sh", tmp, b.DebianMirror, b.DebianSecurityMirror, debs, Suite, b.arch())
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building the Debian %s root filesystem in %s: %w", Suite, tmp, err)
	}
	os.Remove(tmp + ".log")
	if err := os.Rename(tmp, dir); err != nil {
		return "", err
	}
	return dir, nil
}

// skipRuntime leaves out the contents of what a container runtime provides.
func skipRuntime(rel string, _ fs.DirEntry) bool {
	for _, p := range []string{"dev/", "proc/", "sys/"} {
		if strings.HasPrefix(rel, p) {
			return true
		}
	}
	return false
}

// DebianLayer is the slim Debian root filesystem as one layer.
func (b *Builder) DebianLayer(ctx context.Context) (v1.Layer, error) {
	return b.cached("debian-"+Suite+b.archSuffix(), b.baseKey(), func() (layer.Spec, func(), error) {
		dir, err := b.DebianRootfs(ctx)
		if err != nil {
			return layer.Spec{}, nil, err
		}
		return layer.Spec{Trees: []layer.Tree{{Dir: dir, Skip: skipRuntime}}}, nil, nil
	})
}

// DerivedLayer installs d over the Debian root filesystem and returns the
// difference as a layer (with whiteouts for removed files).
func (b *Builder) DerivedLayer(ctx context.Context, d Derived) (v1.Layer, error) {
	k := key("debian derived v1", b.baseKey(), deriveScript, d.Name, strings.Join(d.Packages, " "), d.Post)
	return b.cached("debian-"+Suite+"-"+d.Name+b.archSuffix(), k, func() (layer.Spec, func(), error) {
		base, err := b.DebianRootfs(ctx)
		if err != nil {
			return layer.Spec{}, nil, err
		}
		_, lists, archives, err := b.debianDirs()
		if err != nil {
			return layer.Spec{}, nil, err
		}
		work := filepath.Join(b.Cache, "debian", d.Name+"-"+k+".work")
		if err := os.RemoveAll(work); err != nil {
			return layer.Spec{}, nil, err
		}
		upper, wdir, merged := filepath.Join(work, "upper"), filepath.Join(work, "work"), filepath.Join(work, "merged")
		for _, p := range []string{upper, wdir, merged} {
			if err := os.MkdirAll(p, 0o755); err != nil {
				return layer.Spec{}, nil, err
			}
		}
		how := ""
		if b.foreign() {
			how = ", emulated"
		}
		b.logf("  apt-get install %s (over %s, linux/%s%s)", strings.Join(d.Packages, " "), Suite, b.arch(), how)
		cmd := exec.CommandContext(ctx, "unshare", "--mount", "--propagation", "private", "bash", "-c", deriveScript, "debian-derive.sh")
		cmd.Env = append(os.Environ(),
			"BASE="+base, "UPPER="+upper, "WORK="+wdir, "MERGED="+merged,
			"LISTS="+lists, "ARCHIVES="+archives,
			"PKGS="+strings.Join(d.Packages, " "), "POST="+d.Post)
		logFile := work + ".log"
		lf, err := os.Create(logFile)
		if err != nil {
			return layer.Spec{}, nil, err
		}
		defer lf.Close()
		cmd.Stdout, cmd.Stderr = lf, lf
		if err := cmd.Run(); err != nil {
			tail, _ := exec.Command("tail", "-30", logFile).Output()
			return layer.Spec{}, nil, fmt.Errorf("installing %s (log %s): %w\n%s", strings.Join(d.Packages, " "), logFile, err, tail)
		}
		// overlayfs leaves the work directory root-only; remove both after packing.
		cleanup := func() { os.RemoveAll(work); os.Remove(logFile) }
		return layer.Spec{Trees: []layer.Tree{{Dir: upper, Overlay: true, Skip: skipRuntime}}}, cleanup, nil
	})
}
