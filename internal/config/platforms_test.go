package config

import (
	"reflect"
	"testing"
	"testing/fstest"
)

func TestPlatformsLocatedErrors(t *testing.T) {
	fsys := fstest.MapFS{
		"slipway.yaml": file(`version: 1
name: shop
images:
  platforms: [linux/amd64, linux/arm64/v8, linux/aarch64, windows/amd64, arm64]
`),
		"services/api/Dockerfile":   file("FROM scratch\n"),
		"services/api/service.yaml": file("language: go\nport: 8080\nbuild:\n  platforms: [linux/s390x]\n"),
	}
	_, err := LoadFS(fsys)
	wantErrors(t, err,
		`slipway.yaml:4: images.platforms[2]: linux/arm64 is listed twice`,
		`slipway.yaml:4: images.platforms[3]: "windows/amd64" is not a supported platform (supported: linux/amd64, linux/arm64`,
		`slipway.yaml:4: images.platforms[4]: "arm64" is not a platform: write OS/ARCH[/VARIANT]`,
		`services/api/service.yaml:4: build.platforms[0]: "linux/s390x" is not a supported platform`,
	)
}

func TestPlatformsFor(t *testing.T) {
	fsys := fstest.MapFS{
		"slipway.yaml":              file("version: 1\nname: shop\nimages:\n  platforms: [linux/amd64, linux/arm64/v8]\n"),
		"services/api/Dockerfile":   file("FROM scratch\n"),
		"services/api/service.yaml": file("language: go\nport: 8080\n"),
		"services/web/Dockerfile":   file("FROM scratch\n"),
		"services/web/service.yaml": file("language: go\nport: 8080\nbuild:\n  platforms: [linux/arm64]\n"),
	}
	cfg, err := LoadFS(fsys)
	if err != nil {
		t.Fatal(err)
	}
	api, _ := cfg.Service("api")
	web, _ := cfg.Service("web")
	if got, want := cfg.Project.PlatformsFor(api), []string{"linux/amd64", "linux/arm64"}; !reflect.DeepEqual(got, want) {
		t.Errorf("api: %v, want %v (the project's, canonical)", got, want)
	}
	if got, want := cfg.Project.PlatformsFor(web), []string{"linux/arm64"}; !reflect.DeepEqual(got, want) {
		t.Errorf("web: %v, want %v (build.platforms replaces the project's)", got, want)
	}
	if _, err := ParsePlatforms([]string{"linux/amd64", "linux/x86_64"}); err == nil {
		t.Error("linux/amd64 and linux/x86_64 accepted together")
	}
}
