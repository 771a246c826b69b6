package plan

import (
	"context"
	"strings"
	"testing"
	"testing/fstest"
)

func digestOf(c byte) string { return "sha256:" + strings.Repeat(string(c), 64) }

// baseRepo has three services: api and web build on python (web through an
// ARG), worker on a digest-pinned alpine and scratch.
func baseRepo() fstest.MapFS {
	r := repo()
	r["services/api/Dockerfile"] = &fstest.MapFile{Data: []byte("# syntax=docker/dockerfile:1\nFROM python:3.11-slim-bookworm AS base\nRUN true\nFROM base\n")}
	r["services/web/Dockerfile"] = &fstest.MapFile{Data: []byte("ARG PY=3.11-slim-bookworm\nFROM node:22 AS assets\nFROM \\\n  python:${PY}\nCOPY --from=assets /a /a\n")}
	r["services/worker/Dockerfile"] = &fstest.MapFile{Data: []byte("FROM alpine:3.22@" + digestOf('9') + " AS build\nFROM scratch\nCOPY --from=build /bin/true /true\n")}
	r["services/worker/main.go"] = &fstest.MapFile{Data: []byte("package main\n")}
	return r
}

func digests(t *testing.T, bases map[string]string) map[string]string {
	t.Helper()
	p, err := Make(context.Background(), baseRepo(), Options{BaseDigests: bases})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, s := range p.Services {
		out[s.Name] = s.Inputs.Digest
	}
	return out
}

func TestAMovedBaseImageChangesExactlyTheServicesBuiltOnIt(t *testing.T) {
	before := map[string]string{"python:3.11-slim-bookworm": digestOf('a'), "node:22": digestOf('b')}
	d1 := digests(t, before)
	if again := digests(t, map[string]string{"node:22": digestOf('b'), "python:3.11-slim-bookworm": digestOf('a')}); again["api"] != d1["api"] || again["web"] != d1["web"] || again["worker"] != d1["worker"] {
		t.Fatalf("the same resolution gave other digests: %v then %v", d1, again)
	}

	python := map[string]string{"python:3.11-slim-bookworm": digestOf('c'), "node:22": digestOf('b')}
	d2 := digests(t, python)
	if d2["api"] == d1["api"] || d2["web"] == d1["web"] {
		t.Errorf("python moved, but api or web kept its digest: %v then %v", d1, d2)
	}
	if d2["worker"] != d1["worker"] {
		t.Errorf("python moved and worker (alpine, pinned) changed: %s then %s", d1["worker"], d2["worker"])
	}

	node := map[string]string{"python:3.11-slim-bookworm": digestOf('a'), "node:22": digestOf('d')}
	d3 := digests(t, node)
	if d3["web"] == d1["web"] || d3["api"] != d1["api"] || d3["worker"] != d1["worker"] {
		t.Errorf("node moved: want only web changed; before %v, after %v", d1, d3)
	}

	// Without resolution (a configuration-only plan) the digests differ
	// from every resolved one: they cannot be mistaken for each other.
	plain := digests(t, nil)
	for name, d := range plain {
		if d == d1[name] {
			t.Errorf("%s: the unresolved digest equals the resolved one", name)
		}
	}
}

func TestResolvedBaseImagesAreRecorded(t *testing.T) {
	p, err := Make(context.Background(), baseRepo(), Options{BaseDigests: map[string]string{"python:3.11-slim-bookworm": digestOf('a'), "node:22": digestOf('b')}})
	if err != nil {
		t.Fatal(err)
	}
	web, _ := p.Service("web")
	got := web.Inputs.BaseImages
	if len(got) != 2 || got[0].Ref != "node:22" || got[0].Digest != digestOf('b') || got[1].Ref != "python:3.11-slim-bookworm" || got[1].Digest != digestOf('a') {
		t.Errorf("web's base images = %+v", got)
	}
	if len(web.From) != 2 || web.From[0].Line != 2 || web.From[1].Line != 3 {
		t.Errorf("web's FROM lines = %+v", web.From)
	}
	// A pinned reference needs no resolution: its digest is the pin.
	worker, _ := p.Service("worker")
	if b := worker.Inputs.BaseImages; len(b) != 1 || b[0].Digest != digestOf('9') {
		t.Errorf("worker's base images = %+v", b)
	}
	// The plan survives its JSON round trip with the base images.
	js, _ := p.JSON()
	back, err := Parse(js)
	if err != nil {
		t.Fatal(err)
	}
	if w, _ := back.Service("web"); len(w.Inputs.BaseImages) != 2 || w.Inputs.Digest != web.Inputs.Digest {
		t.Errorf("after JSON: %+v", w.Inputs)
	}
}

func TestAnUnresolvedBaseImageIsAnErrorNamingServiceDockerfileAndLine(t *testing.T) {
	_, err := Make(context.Background(), baseRepo(), Options{BaseDigests: map[string]string{"node:22": digestOf('b')}})
	if err == nil {
		t.Fatal("a plan with an unresolved base image was made")
	}
	// api comes first (services are planned in name order).
	for _, want := range []string{"service api", "services/api/Dockerfile:2", "FROM python:3.11-slim-bookworm"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	_, err = Make(context.Background(), baseRepo(), Options{BaseDigests: map[string]string{"node:22": "latest", "python:3.11-slim-bookworm": digestOf('a')}})
	if err == nil || !strings.Contains(err.Error(), "services/web/Dockerfile:2: FROM node:22") || !strings.Contains(err.Error(), `"latest"`) {
		t.Errorf("a digest that is not one: %v", err)
	}
}

func TestPinnedBaseImagesNeedNoResolution(t *testing.T) {
	r := baseRepo()
	delete(r, "services/api/Dockerfile")
	delete(r, "services/api/go.mod")
	delete(r, "services/web/Dockerfile")
	delete(r, "services/web/package.json")
	p, err := Make(context.Background(), r, Options{BaseDigests: map[string]string{}})
	if err != nil {
		t.Fatalf("only pinned and scratch bases, empty resolution: %v", err)
	}
	if len(p.Services) != 1 || len(p.Services[0].Inputs.BaseImages) != 1 {
		t.Fatalf("services = %+v", p.Services)
	}
	if got := Pinned("alpine:3.22"); got != "" {
		t.Errorf("Pinned of a tag = %q", got)
	}
}

// A multi-platform service's inputs are its platform list and, for each
// target platform, the digest its base images resolve to there: a moved
// arm64 variant rebuilds it, another platform list is other inputs, and a
// single-platform service's digest does not change with --platforms absent.
func TestPlatformsAndTheirBaseImagesAreInputs(t *testing.T) {
	plat := func(platforms []string, bases map[string]string) map[string]Service {
		t.Helper()
		p, err := Make(context.Background(), baseRepo(), Options{BaseDigests: bases, Platforms: platforms})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]Service{}
		for _, s := range p.Services {
			out[s.Name] = s
		}
		return out
	}
	bases := map[string]string{"python:3.11-slim-bookworm": digestOf('a'), "node:22": digestOf('b'),
		BasePlatformKey("python:3.11-slim-bookworm", "linux/amd64"): digestOf('c'),
		BasePlatformKey("python:3.11-slim-bookworm", "linux/arm64"): digestOf('d')}
	two := []string{"linux/amd64", "linux/arm64"}
	single := plat(nil, bases)
	multi := plat(two, bases)
	if single["api"].Inputs.Digest == multi["api"].Inputs.Digest {
		t.Fatal("building for two platforms has the same inputs as the engine's own")
	}
	if one := plat([]string{"linux/amd64"}, bases); one["api"].Inputs.Digest == multi["api"].Inputs.Digest {
		t.Fatal("one platform and two have the same inputs")
	}
	var onArm bool
	for _, b := range multi["api"].Inputs.BaseImages {
		onArm = onArm || (b.Platform == "linux/arm64" && b.Digest == digestOf('d') && b.Ref == "python:3.11-slim-bookworm")
	}
	if !onArm {
		t.Errorf("api's inputs do not record python's linux/arm64 image: %+v", multi["api"].Inputs.BaseImages)
	}
	bases[BasePlatformKey("python:3.11-slim-bookworm", "linux/arm64")] = digestOf('e')
	moved := plat(two, bases)
	if moved["api"].Inputs.Digest == multi["api"].Inputs.Digest {
		t.Error("python's arm64 image moved and api's inputs did not change")
	}
	if moved["worker"].Inputs.Digest != multi["worker"].Inputs.Digest {
		t.Error("worker, built on no python, changed with python's arm64 image")
	}
	if again := plat(nil, bases); again["api"].Inputs.Digest != single["api"].Inputs.Digest {
		t.Error("a single-platform service's inputs depend on per-platform base digests it does not use")
	}
}
