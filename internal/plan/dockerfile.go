package plan

import (
	"regexp"
	"strings"

	"github.com/slipwayci/slipway/internal/cabundle"
	"github.com/slipwayci/slipway/internal/dockerfile"
)

// BaseImages returns the images a Dockerfile builds from, in order of first
// use: the FROM references that name neither an earlier stage nor scratch,
// with ARG defaults declared before the first FROM and the given build
// arguments substituted (build arguments win). A reference still holding a
// variable after substitution is left out: it cannot be resolved without
// the build.
func BaseImages(dockerfile string, buildArgs map[string]string) []string {
	var out []string
	for _, f := range FromLines(dockerfile, buildArgs) {
		out = append(out, f.Ref)
	}
	return out
}

// From is one base image of a Dockerfile: the reference its first FROM names
// (after substitution) and that instruction's line (1-based).
type From struct {
	Ref  string `json:"ref"`
	Line int    `json:"line"`
	// Target is set when a stage built on Ref runs on the target
	// platform (no --platform, or --platform=$TARGETPLATFORM); a stage
	// FROM --platform=$BUILDPLATFORM runs on the engine's own.
	Target bool `json:"target,omitempty"`
}

// BasePlatformKey is the key of a base image's digest for one target
// platform in Options.BaseDigests ("golang:1.26@linux/arm64").
func BasePlatformKey(ref, platform string) string { return ref + "@" + platform }

// Pinned returns the digest a reference pins with "@sha256:…", or "".
func Pinned(ref string) string {
	if _, d, ok := strings.Cut(ref, "@"); ok && strings.HasPrefix(d, "sha256:") {
		return d
	}
	return ""
}

// FromLines is BaseImages with the line of each reference's first FROM.
func FromLines(text string, buildArgs map[string]string) []From {
	args := map[string]string{}
	stages := map[string]bool{}
	seen := map[string]int{}
	var out []From
	sawFrom := false
	for _, ll := range dockerfile.Lines(text) {
		line := ll.Text
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		switch strings.ToUpper(fields[0]) {
		case "ARG":
			if sawFrom {
				continue // stage-scoped: not visible to FROM
			}
			for _, decl := range fields[1:] {
				name, def, _ := strings.Cut(decl, "=")
				args[name] = strings.Trim(def, `"'`)
			}
		case "FROM":
			sawFrom = true
			rest := fields[1:]
			target := true
			for len(rest) > 0 && strings.HasPrefix(rest[0], "--") {
				if v, ok := strings.CutPrefix(rest[0], "--platform="); ok {
					target = targetPlatform(v)
				}
				rest = rest[1:]
			}
			if len(rest) == 0 {
				continue
			}
			ref := expand(rest[0], args, buildArgs)
			switch {
			case ref == "" || strings.EqualFold(ref, "scratch") || stages[strings.ToLower(ref)] || strings.Contains(ref, "$"):
			default:
				if i, ok := seen[ref]; ok {
					out[i].Target = out[i].Target || target
					break
				}
				seen[ref] = len(out)
				out = append(out, From{Ref: ref, Line: ll.Line, Target: target})
			}
			if len(rest) >= 3 && strings.EqualFold(rest[1], "AS") {
				stages[strings.ToLower(rest[2])] = true
			}
		}
	}
	return out
}

var varRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)`)

// expand substitutes $VAR, ${VAR} and ${VAR:-default}; unknown variables
// are kept as they are.
func expand(s string, args, buildArgs map[string]string) string {
	return varRef.ReplaceAllStringFunc(s, func(m string) string {
		sub := varRef.FindStringSubmatch(m)
		name := sub[1] + sub[4]
		if v, ok := buildArgs[name]; ok {
			return v
		}
		if v, ok := args[name]; ok && v != "" {
			return v
		}
		if sub[2] != "" {
			return sub[3]
		}
		return m
	})
}

// GeneratedDockerfile is the name, at the top of the build context, of the
// Dockerfile slipway builds when it declares the project's env (see
// DeclareArgs); .dockerignore keeps it out of COPY.
const GeneratedDockerfile = ".slipway.Dockerfile"

// DeclareArgs returns the Dockerfile with an ARG instruction for every name
// after each FROM, so that build arguments given for those names reach
// every stage's RUN steps as environment variables whether the Dockerfile
// declares them or not (BuildKit ignores undeclared build arguments).
// Every other line is kept as it is.
func DeclareArgs(dockerfile string, names []string) string {
	if len(names) == 0 {
		return dockerfile
	}
	var b strings.Builder
	inFrom := false
	for _, raw := range strings.SplitAfter(dockerfile, "\n") {
		t := strings.TrimSpace(raw)
		b.WriteString(raw)
		if !inFrom {
			f := strings.Fields(t)
			inFrom = len(f) > 0 && strings.EqualFold(f[0], "FROM")
		}
		if inFrom && !strings.HasSuffix(t, `\`) {
			inFrom = false
			if !strings.HasSuffix(raw, "\n") {
				b.WriteString("\n")
			}
			for _, n := range names {
				b.WriteString("ARG " + n + "\n")
			}
		}
	}
	return b.String()
}

// CAMounts are the mounts MountOnEveryRun gives every RUN step when
// slipway.yaml sets caCertificates: the bundle and apt's configuration
// for it, as secrets, so neither lands in a layer.
// They are readable by every user, since a RUN step may run as any USER.
var CAMounts = "--mount=type=secret,id=" + cabundle.BundleSecret + ",target=" + cabundle.BundlePath + ",mode=0444" +
	" --mount=type=secret,id=" + cabundle.AptConfSecret + ",target=" + cabundle.AptConfPath + ",mode=0444"

var heredocStart = regexp.MustCompile(`(?:^|\s)<<-?\s*["']?([A-Za-z_][A-Za-z0-9_]*)["']?(?:\s|$)`)

// MountOnEveryRun returns the Dockerfile with mounts (RUN flags) added to
// every RUN instruction; every other line is kept as it is.
func MountOnEveryRun(dockerfile, mounts string) string {
	var b strings.Builder
	continued, heredoc := false, ""
	for _, raw := range strings.SplitAfter(dockerfile, "\n") {
		t := strings.TrimSpace(raw)
		switch {
		case heredoc != "":
			if t == heredoc {
				heredoc = ""
			}
		case continued || t == "" || strings.HasPrefix(t, "#"):
		default:
			if f := strings.Fields(t); strings.EqualFold(f[0], "RUN") {
				i := strings.Index(raw, f[0]) + len(f[0])
				raw = raw[:i] + " " + mounts + raw[i:]
			}
			if m := heredocStart.FindStringSubmatch(t); m != nil {
				heredoc = m[1] // its body is not instructions
			}
		}
		if heredoc == "" && t != "" && !strings.HasPrefix(t, "#") {
			// Comments and blank lines inside a continued instruction
			// do not end it.
			continued = strings.HasSuffix(t, `\`)
		}
		b.WriteString(raw)
	}
	return b.String()
}

// RunsOnTarget reports whether the Dockerfile runs a command (RUN) in a
// stage built for the target platform: such a stage runs under emulation
// when the target is not the engine's platform. A stage
// FROM --platform=$BUILDPLATFORM runs natively and cross-compiles.
func RunsOnTarget(text string) bool {
	target := true
	for _, ll := range dockerfile.Lines(text) {
		fields := strings.Fields(ll.Text)
		if len(fields) == 0 {
			continue
		}
		switch strings.ToUpper(fields[0]) {
		case "FROM":
			target = true
			for _, f := range fields[1:] {
				if v, ok := strings.CutPrefix(f, "--platform="); ok {
					target = targetPlatform(v)
				}
			}
		case "RUN":
			if target {
				return true
			}
		}
	}
	return false
}

// targetPlatform reports whether a FROM --platform value builds for the
// target platform ($TARGETPLATFORM, or a value made of $TARGETOS/$TARGETARCH)
// rather than a fixed or the build platform.
func targetPlatform(v string) bool {
	return strings.Contains(v, "TARGETPLATFORM") || strings.Contains(v, "TARGETARCH")
}
