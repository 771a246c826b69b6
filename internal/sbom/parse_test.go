package sbom

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzDpkgStatus feeds arbitrary bytes to the dpkg status parser: it must
// never panic, and what it accepts has a name and a version for every
// package and parses the same way twice.
func FuzzDpkgStatus(f *testing.F) {
	for _, s := range []string{dpkgStatus, dpkgStatusAfterRemove, "", "\n\n", "Package:", " x", "Package: a\nStatus:\n x\nVersion: 1\n",
		"Package: a\r\nVersion: 1\r\n", "Package: a\nStatus: install ok installed\n", ":\n", "Package: a\nVersion: 1\nSource: (x\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		pkgs, err := parseDpkgStatus(data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "line ") {
				t.Errorf("error without a line: %v", err)
			}
			return
		}
		for _, p := range pkgs {
			if p.name == "" || p.version == "" {
				t.Errorf("package %+v without name or version", p)
			}
		}
		again, _ := parseDpkgStatus(data)
		if len(again) != len(pkgs) {
			t.Errorf("two parses differ: %d and %d packages", len(pkgs), len(again))
		}
	})
}

// FuzzApkInstalled does the same for apk's database.
func FuzzApkInstalled(f *testing.F) {
	for _, s := range []string{"P:musl\nV:1\n\nP:b\nV:2\n", "", "P:\n", "x", "P:a\n\n\nV:1\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		pkgs, err := parseApkInstalled(data)
		if err != nil {
			return
		}
		for _, p := range pkgs {
			if p.name == "" || p.version == "" {
				t.Errorf("package %+v without name or version", p)
			}
		}
	})
}

func TestDpkgStatusSkipsWhatIsNotInstalled(t *testing.T) {
	pkgs, err := parseDpkgStatus([]byte(dpkgStatus))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range pkgs {
		names = append(names, p.name+"="+p.version+"/"+p.source+"/"+p.sourceVersion)
	}
	want := "base-files=12.4+deb12u5// libc6=2.36-9+deb12u4/glibc/ bsdutils=1:2.38.1-5+deb12u1/util-linux/2.38.1-5+deb12u1 tzdata=2024a-0+deb12u1//"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestPURLEscaping(t *testing.T) {
	for _, tc := range []struct {
		p    purl
		want string
	}{
		{purl{typ: "deb", namespace: "debian", name: "libstdc++6", version: "1:12.2.0-14", qualifiers: map[string]string{"distro": "debian-12", "arch": "amd64", "upstream": ""}},
			"pkg:deb/debian/libstdc%2B%2B6@1%3A12.2.0-14?arch=amd64&distro=debian-12"},
		{purl{typ: "golang", namespace: "github.com/BurntSushi", name: "toml", version: "v1.3.2"}, "pkg:golang/github.com/BurntSushi/toml@v1.3.2"},
		{npmPURL("@babel/core", "7.0.0"), "pkg:npm/%40babel/core@7.0.0"},
		{purl{typ: "pypi", name: pypiName("Zope.Interface__x"), version: "6.0"}, "pkg:pypi/zope-interface-x@6.0"},
		{purl{typ: "oci", name: "orders", version: "sha256:ab", qualifiers: map[string]string{"repository_url": "r:5000/a b"}}, "pkg:oci/orders@sha256%3Aab?repository_url=r%3A5000%2Fa%20b"},
	} {
		if got := tc.p.String(); got != tc.want {
			t.Errorf("got %s, want %s", got, tc.want)
		}
	}
}

func TestMagicAcrossWrites(t *testing.T) {
	data := append(bytes.Repeat([]byte{'a'}, 100), goBuildInfoMagic...)
	data = append(data, 'z')
	for split := 0; split <= len(data); split++ {
		var m magicScanner
		m.Write(data[:split])
		m.Write(data[split:])
		if !m.found {
			t.Fatalf("magic split at %d not found", split)
		}
	}
	var one magicScanner
	for _, b := range data {
		one.Write([]byte{b})
	}
	if !one.found {
		t.Error("magic written a byte at a time not found")
	}
	var m magicScanner
	for _, b := range bytes.Repeat([]byte("\xff Go buildin"), 10) {
		m.Write([]byte{b})
	}
	if m.found {
		t.Error("found the magic in data that does not hold it")
	}
}

func TestNodeModuleDirectories(t *testing.T) {
	for dir, want := range map[string]bool{
		"app/node_modules/x": true, "node_modules/@s/x": true, "a/node_modules/x/node_modules/y": true,
		"app/node_modules": false, "app/node_modules/@s": false, "app/node_modules/x/lib": false,
		"app/node_modules/.bin": false, "app/x": false, "node_modules/@/x": false,
	} {
		if got := isNodeModule(dir); got != want {
			t.Errorf("isNodeModule(%s) = %v", dir, got)
		}
	}
}
