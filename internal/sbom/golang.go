package sbom

import (
	"bytes"
	"debug/buildinfo"
	"io"
	"os"
	"path"
	"strings"
)

// goBuildInfoMagic starts the build information the Go linker writes into
// every binary (debug/buildinfo looks for the same bytes).
var goBuildInfoMagic = []byte("\xff Go buildinf:")

// magicScanner is a writer that watches the bytes written through it for
// goBuildInfoMagic, across write boundaries, without copying what it sees.
type magicScanner struct {
	tail  []byte // the last len(magic)-1 bytes seen
	found bool
}

func (m *magicScanner) Write(p []byte) (int, error) {
	if m.found {
		return len(p), nil
	}
	keep := len(goBuildInfoMagic) - 1
	// The magic may straddle the previous write and this one.
	head := p
	if len(head) > keep {
		head = head[:keep]
	}
	edge := append(m.tail, head...)
	if bytes.Contains(edge, goBuildInfoMagic) || bytes.Contains(p, goBuildInfoMagic) {
		m.found = true
		return len(p), nil
	}
	if len(p) >= keep {
		m.tail = append(m.tail[:0], p[len(p)-keep:]...)
	} else {
		if len(edge) > keep {
			edge = edge[len(edge)-keep:]
		}
		m.tail = append(m.tail[:0], edge...)
	}
	return len(p), nil
}

// spool holds one candidate executable on disk, so that debug/buildinfo
// can seek in it without the file being held in memory.
type spool struct {
	f *os.File
}

func newSpool(dir string) (*spool, error) {
	f, err := os.CreateTemp(dir, "slipway-sbom-exe-")
	if err != nil {
		return nil, err
	}
	return &spool{f: f}, nil
}

func (s *spool) close() {
	name := s.f.Name()
	_ = s.f.Close()
	_ = os.Remove(name)
}

// goBinary reads an executable's Go build information. head is the part of
// the file already read from r. ok is false when the file is not a Go
// binary; err is set when it claims to be one but cannot be read.
func (s *spool) goBinary(head []byte, r io.Reader) (info *buildinfo.BuildInfo, ok bool, err error) {
	if err := s.f.Truncate(0); err != nil {
		return nil, false, err
	}
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return nil, false, err
	}
	var m magicScanner
	if _, err := io.Copy(io.MultiWriter(s.f, &m), io.MultiReader(bytes.NewReader(head), r)); err != nil {
		return nil, false, err
	}
	if !m.found {
		return nil, false, nil
	}
	info, err = buildinfo.Read(s.f)
	if err != nil {
		if strings.Contains(err.Error(), "not a Go executable") {
			return nil, false, nil
		}
		return nil, false, err
	}
	return info, true, nil
}

// goVersion turns a toolchain version (go1.26.8, go1.26.8 X:boringcrypto)
// into the version of the stdlib package: 1.26.8.
func goVersion(v string) string {
	v, _, _ = strings.Cut(v, " ")
	return strings.TrimPrefix(v, "go")
}

// goInfo is what a Go binary's build information says.
type goInfo struct {
	goVersion   string
	mainPath    string
	mainVersion string
	deps        []goModule
}

type goModule struct{ path, version string }

func goInfoOf(info *buildinfo.BuildInfo) goInfo {
	g := goInfo{goVersion: goVersion(info.GoVersion), mainPath: info.Main.Path, mainVersion: info.Main.Version}
	if g.mainPath == "" {
		g.mainPath = info.Path
	}
	for _, d := range info.Deps {
		m := goModule{d.Path, d.Version}
		if d.Replace != nil && d.Replace.Version != "" {
			m = goModule{d.Replace.Path, d.Replace.Version}
		}
		g.deps = append(g.deps, m)
	}
	return g
}

// components are the binary's main module (an application depending on the
// rest), every module linked in and the Go standard library.
func (g goInfo) components(location string) []*found {
	var out []*found
	var refs []string
	if g.goVersion != "" {
		u := purl{typ: "golang", name: "stdlib", version: g.goVersion}.String()
		out = append(out, &found{c: Component{BOMRef: u, Type: "library", Name: "stdlib", Version: g.goVersion, PURL: u}, location: location})
		refs = append(refs, u)
	}
	for _, d := range g.deps {
		u := goPURL(d.path, d.version).String()
		out = append(out, &found{c: Component{BOMRef: u, Type: "library", Name: d.path, Version: d.version, PURL: u}, location: location})
		refs = append(refs, u)
	}
	main := Component{Type: "application", Name: g.mainPath, Version: g.mainVersion}
	if g.mainPath == "" || g.mainPath == "command-line-arguments" {
		main.Name = path.Base(location)
		main.BOMRef = "go-binary:" + location
	} else {
		v := g.mainVersion
		if v == "(devel)" {
			v = ""
		}
		main.PURL = goPURL(g.mainPath, v).String()
		main.BOMRef = main.PURL
	}
	out = append(out, &found{c: main, location: location, dependsOn: refs})
	return out
}

// goPURL is the package URL of a Go module: its path's last element is the
// name, the rest the namespace.
func goPURL(modPath, version string) purl {
	ns, n := path.Split(modPath)
	return purl{typ: "golang", namespace: strings.TrimSuffix(ns, "/"), name: n, version: version}
}
