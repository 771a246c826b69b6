// Package archcheck proves, before an image is published, that the program
// it starts runs on the platform it claims: the image configuration's OS
// and architecture, and the executable its entrypoint resolves to (through
// PATH, symlinks and, for a script, its interpreter) being an ELF binary of
// that architecture. It catches the image whose Dockerfile hard-codes
// GOARCH=amd64 and would fail with "exec format error" on arm64.
package archcheck

import (
	"bufio"
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Image is what is checked: a root filesystem and the configuration that
// says what it starts.
type Image struct {
	// Root is the image's root filesystem on this machine.
	Root string
	// Platform is the platform the image was built for ("linux/arm64").
	Platform string
	// OS and Architecture are what the image configuration says.
	OS, Architecture string
	// Entrypoint and Cmd as in the image configuration.
	Entrypoint, Cmd []string
	// Env is the configuration's environment (PATH is read from it).
	Env []string
	// WorkingDir resolves a relative program path.
	WorkingDir string
}

// machines maps ELF machines to GOARCH-style architecture names.
var machines = map[elf.Machine]string{
	elf.EM_X86_64:  "amd64",
	elf.EM_AARCH64: "arm64",
	elf.EM_386:     "386",
	elf.EM_ARM:     "arm",
	elf.EM_RISCV:   "riscv64",
	elf.EM_PPC64:   "ppc64le",
	elf.EM_S390:    "s390x",
}

// machineNames are how people call each architecture's executables.
var machineNames = map[string]string{
	"amd64": "x86-64", "arm64": "arm64 (aarch64)", "386": "x86 (32-bit)", "arm": "32-bit ARM",
	"riscv64": "RISC-V", "ppc64le": "POWER", "s390x": "s390x",
}

// ErrWrongArchitecture is wrapped by every mismatch.
var ErrWrongArchitecture = errors.New("wrong architecture")

// defaultPath is the PATH a runtime uses when the image sets none.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// maxHops bounds symlink and interpreter chains.
const maxHops = 40

// Check returns nil when img's configuration and the executable it starts
// match img.Platform, and otherwise an error saying which file is of which
// architecture.
func Check(img Image) (string, error) {
	wantOS, wantArch, _ := strings.Cut(img.Platform, "/")
	wantArch, _, _ = strings.Cut(wantArch, "/")
	if img.OS != "" && img.OS != wantOS || img.Architecture != "" && img.Architecture != wantArch {
		return "", fmt.Errorf("%w: the image configuration says %s/%s", ErrWrongArchitecture, img.OS, img.Architecture)
	}
	argv := append(append([]string{}, img.Entrypoint...), img.Cmd...)
	if len(img.Entrypoint) == 0 {
		argv = img.Cmd
	}
	if len(argv) == 0 || argv[0] == "" {
		return "", errors.New("the image sets no ENTRYPOINT or CMD: nothing to check it starts")
	}
	pathEnv := defaultPath
	for _, e := range img.Env {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			pathEnv = v
		}
	}
	var chain []string
	prog := argv[0]
	for hop := 0; ; hop++ {
		if hop > 4 {
			return "", fmt.Errorf("%s: interpreters nest too deep", strings.Join(chain, " -> "))
		}
		p, err := lookPath(img.Root, prog, pathEnv, img.WorkingDir)
		if err != nil {
			return "", err
		}
		chain = append(chain, p)
		kind, next, err := inspect(img.Root, p)
		if err != nil {
			return "", fmt.Errorf("%s: %w", p, err)
		}
		switch {
		case kind == "script":
			prog = next
			continue
		case kind == wantArch:
			return strings.Join(chain, " -> ") + ": " + machineNames[wantArch] + " executable", nil
		default:
			name := machineNames[kind]
			if name == "" {
				name = kind
			}
			hint := ""
			if strings.HasPrefix(prog, "/") || len(chain) == 1 {
				hint = " (the Dockerfile sets GOARCH, or copies a binary built for another platform?)"
			}
			via := ""
			if len(chain) > 1 {
				via = " (started through " + strings.Join(chain[:len(chain)-1], " -> ") + ")"
			}
			return "", fmt.Errorf("%w: %s is an %s executable%s%s", ErrWrongArchitecture, p, name, via, hint)
		}
	}
}

// lookPath finds prog inside root as a runtime would: a name with a slash
// is a path (relative to the working directory), anything else is looked
// up in PATH. The returned path is the one inside the image.
func lookPath(root, prog, pathEnv, wd string) (string, error) {
	if strings.Contains(prog, "/") {
		p := prog
		if !path.IsAbs(p) {
			if wd == "" {
				wd = "/"
			}
			p = path.Join(wd, p)
		}
		if _, err := resolve(root, p); err != nil {
			return "", fmt.Errorf("the image starts %s, which %v", p, err)
		}
		return p, nil
	}
	for _, dir := range strings.Split(pathEnv, ":") {
		if dir == "" || !path.IsAbs(dir) {
			continue
		}
		p := path.Join(dir, prog)
		if host, err := resolve(root, p); err == nil {
			if st, err := os.Stat(host); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
				return p, nil
			}
		}
	}
	return "", fmt.Errorf("the image starts %q, which is not an executable on its PATH (%s)", prog, pathEnv)
}

// resolve maps the image path p to a host path under root, following
// symlinks the way they resolve inside the image (an absolute target is
// relative to root, never the host's /).
func resolve(root, p string) (string, error) {
	cur := "/"
	rest := strings.Split(strings.Trim(path.Clean(p), "/"), "/")
	hops := 0
	for len(rest) > 0 {
		part := rest[0]
		rest = rest[1:]
		if part == "" || part == "." {
			continue
		}
		if part == ".." {
			cur = path.Dir(cur)
			continue
		}
		next := path.Join(cur, part)
		host := filepath.Join(root, filepath.FromSlash(next))
		st, err := os.Lstat(host)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return "", errors.New("does not exist in the image")
			}
			return "", err
		}
		if st.Mode()&fs.ModeSymlink != 0 {
			if hops++; hops > maxHops {
				return "", errors.New("is a symlink loop")
			}
			target, err := os.Readlink(host)
			if err != nil {
				return "", err
			}
			if path.IsAbs(target) {
				cur = "/"
			}
			rest = append(strings.Split(strings.Trim(target, "/"), "/"), rest...)
			continue
		}
		cur = next
	}
	return filepath.Join(root, filepath.FromSlash(cur)), nil
}

// inspect reads the image file p: an ELF executable gives its
// architecture; a script gives "script" and the program its #! line
// starts (for "/usr/bin/env NAME", NAME).
func inspect(root, p string) (kind, next string, err error) {
	host, err := resolve(root, p)
	if err != nil {
		return "", "", err
	}
	f, err := os.Open(host)
	if err != nil {
		return "", "", err
	}
	defer f.Close()
	head := make([]byte, 256)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return "", "", err
	}
	head = head[:n]
	switch {
	case bytes.HasPrefix(head, []byte("\x7fELF")):
		ef, err := elf.NewFile(f)
		if err != nil {
			return "", "", fmt.Errorf("is not a readable ELF file: %v", err)
		}
		if a, ok := machines[ef.Machine]; ok {
			return a, "", nil
		}
		return ef.Machine.String(), "", nil
	case bytes.HasPrefix(head, []byte("#!")):
		line, _, _ := bufio.NewReader(bytes.NewReader(head[2:])).ReadLine()
		fields := strings.Fields(string(line))
		if len(fields) == 0 {
			return "", "", errors.New("is a script with an empty #! line")
		}
		interp := fields[0]
		if path.Base(interp) == "env" && len(fields) > 1 {
			args := fields[1:]
			for len(args) > 0 && strings.HasPrefix(args[0], "-") {
				args = args[1:]
			}
			if len(args) > 0 {
				return "script", args[0], nil
			}
		}
		return "script", interp, nil
	default:
		return "", "", errors.New("is neither an ELF executable nor a script with a #! line")
	}
}
