package e2e

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"dagger.io/dagger"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/slipwayci/slipway/internal/testutil"
)

// The base images the harness mirrors, under the Docker Hub names that
// Dockerfiles and the pipeline's defaults use; each with a command that
// proves the image is what its name says.
var mirroredImages = []struct {
	ref  string
	args []string
	want string
}{
	{"busybox:1.37", []string{"sh", "-c", "id -u nobody; id -u nonroot"}, "65534\n65532"},
	{"alpine:3.22", []string{"sh", "-c", "echo hello from $(uname -s)"}, "hello from Linux"},
	{"golang:1.26-alpine", []string{"go", "env", "GOOS", "CGO_ENABLED"}, "linux\n0"},
	{"debian:bookworm-slim", []string{"cat", "/etc/debian_version"}, "12."},
	{"python:3.11-slim-bookworm", []string{"python3", "-c", "import sys; print(sys.version_info[:2])"}, "(3, 11)"},
	{"node:18-bookworm-slim", []string{"node", "-e", "console.log(process.versions.node.split('.')[0])"}, "18"},
	{"postgres:15-bookworm", []string{"postgres", "--version"}, "(PostgreSQL) 15."},
	{"redis:7.0-bookworm", []string{"redis-server", "--version"}, "v=7.0."},
}

// TestMirroredImagesRun runs a container from every mirrored name: with the
// harness they come from the local registry configured as docker.io mirror.
func TestMirroredImagesRun(t *testing.T) {
	ctx, c := connect(t)
	for _, img := range mirroredImages {
		t.Run(img.ref, func(t *testing.T) {
			out, err := c.Container().From(img.ref).
				WithEnvVariable("SLIPWAY_RUN", runID).
				WithExec(img.args).
				Stdout(ctx)
			if err != nil {
				t.Fatalf("running %v in %s: %v", img.args, img.ref, err)
			}
			if !strings.Contains(out, img.want) {
				t.Fatalf("%v in %s printed %q, want it to contain %q", img.args, img.ref, out, img.want)
			}
		})
	}
}

// TestDockerBuildTwoStage builds testdata/dockerbuild: the build stage
// downloads a module (offline, from the Go image's seeded proxy with the
// harness) and the final stage holds only the binary.
func TestDockerBuildTwoStage(t *testing.T) {
	ctx, c := connect(t)
	src := c.Host().Directory(filepath.Join(testutil.RepoRoot(t), "e2e", "testdata", "dockerbuild"))
	ctr := src.DockerBuild()

	out, err := ctr.WithEnvVariable("SLIPWAY_RUN", runID).WithExec([]string{"/usr/local/bin/hello"}).Stdout(ctx)
	if err != nil {
		t.Fatalf("running the built image: %v", err)
	}
	for _, want := range []string{"hello from a two-stage build", "uuid 29ff9505-f1b5-5f0c-ab02-22beb0f073a2"} {
		if !strings.Contains(out, want) {
			t.Errorf("output %q does not contain %q", out, want)
		}
	}
	user, err := ctr.User(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if user != "65532" {
		t.Errorf("final stage user = %q, want 65532", user)
	}
	// The toolchain stays in the build stage.
	entries, err := ctr.Directory("/usr/local").Entries(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.TrimSuffix(e, "/") == "go" {
			t.Errorf("final stage contains /usr/local/go: the build stage leaked into it")
		}
	}
}

// TestPublishReadBack publishes an image to the registry the engine can
// reach, then reads it back with go-containerregistry: same digest, same
// label, same file content.
func TestPublishReadBack(t *testing.T) {
	ctx, c := connect(t)
	reg := os.Getenv("SLIPWAY_LOCAL_REGISTRY")
	if reg == "" {
		t.Skip("SLIPWAY_LOCAL_REGISTRY is not set (the harness sets it; an external engine needs a registry it can push to)")
	}
	content := "published by run " + runID + "\n"
	tag := reg + "/slipway-e2e/publish:" + runID
	addr, err := c.Container().From("busybox:1.37").
		WithNewFile("/slipway/run.txt", content).
		WithLabel("org.opencontainers.image.revision", runID).
		Publish(ctx, tag)
	if err != nil {
		t.Fatalf("publishing %s: %v", tag, err)
	}
	_, published, ok := strings.Cut(addr, "@")
	if !ok {
		t.Fatalf("Publish returned %q, want a reference with a digest", addr)
	}

	ref, err := name.ParseReference(tag)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Get(ref, remote.WithContext(ctx))
	if err != nil {
		t.Fatalf("reading %s back: %v", ref, err)
	}
	if desc.Digest.String() != published {
		t.Fatalf("registry has %s at %s, Publish returned %s", desc.Digest, ref, published)
	}
	img, err := desc.Image()
	if err != nil {
		t.Fatalf("%s is not an image: %v", ref, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if got := cf.Config.Labels["org.opencontainers.image.revision"]; got != runID {
		t.Errorf("label org.opencontainers.image.revision = %q, want %q", got, runID)
	}
	got, err := readFile(mutate.Extract(img), "slipway/run.txt")
	if err != nil {
		t.Fatalf("reading /slipway/run.txt from %s: %v", ref, err)
	}
	if got != content {
		t.Errorf("/slipway/run.txt = %q, want %q", got, content)
	}
}

// readFile returns the content of name in a flattened image tar stream.
func readFile(rc io.ReadCloser, name string) (string, error) {
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return "", os.ErrNotExist
		}
		if err != nil {
			return "", err
		}
		if strings.TrimPrefix(h.Name, "/") == name {
			b, err := io.ReadAll(tr)
			return string(b), err
		}
	}
}

// TestServiceBinding runs the postgres image as a service (its entrypoint
// initialises a database from POSTGRES_* variables) and queries it from
// another container through the service binding.
func TestServiceBinding(t *testing.T) {
	ctx, c := connect(t)
	password := c.SetSecret("e2e-postgres-password", "e2e-"+runID)
	db := c.Container().From("postgres:15-bookworm").
		WithEnvVariable("POSTGRES_USER", "app").
		WithEnvVariable("POSTGRES_DB", "appdb").
		WithSecretVariable("POSTGRES_PASSWORD", password).
		WithEnvVariable("SLIPWAY_RUN", runID).
		WithExposedPort(5432).
		AsService(dagger.ContainerAsServiceOpts{UseEntrypoint: true})

	out, err := c.Container().From("postgres:15-bookworm").
		WithServiceBinding("db", db).
		WithSecretVariable("PGPASSWORD", password).
		WithEnvVariable("SLIPWAY_RUN", runID).
		WithExec([]string{"sh", "-c",
			"pg_isready -h db -p 5432 -t 60 && psql -h db -U app -d appdb -tAc 'select current_database(), 40 + 2'"}).
		Stdout(ctx)
	if err != nil {
		t.Fatalf("querying postgres through the service binding: %v", err)
	}
	if !strings.Contains(out, "appdb|42") {
		t.Fatalf("query printed %q, want it to contain %q", out, "appdb|42")
	}
}

// TestRedisServiceBinding runs the redis image as a service with its
// default command and writes and reads a key from another container.
func TestRedisServiceBinding(t *testing.T) {
	ctx, c := connect(t)
	redis := c.Container().From("redis:7.0-bookworm").
		WithEnvVariable("SLIPWAY_RUN", runID).
		WithExposedPort(6379).
		AsService(dagger.ContainerAsServiceOpts{UseEntrypoint: true})

	out, err := c.Container().From("redis:7.0-bookworm").
		WithServiceBinding("redis", redis).
		WithEnvVariable("RUN", runID).
		WithExec([]string{"sh", "-c", `redis-cli -h redis set slipway "$RUN" && redis-cli -h redis get slipway`}).
		Stdout(ctx)
	if err != nil {
		t.Fatalf("talking to redis through the service binding: %v", err)
	}
	if !strings.Contains(out, "OK") || !strings.Contains(out, runID) {
		t.Fatalf("redis-cli printed %q, want OK and %q", out, runID)
	}
}

// TestCacheVolumeAcrossSessions writes into a cache volume in one session
// and reads it back in another.
func TestCacheVolumeAcrossSessions(t *testing.T) {
	key := "slipway-e2e-" + runID
	token := "token-" + runID

	ctx, c1 := connect(t)
	_, err := c1.Container().From("busybox:1.37").
		WithMountedCache("/cache", c1.CacheVolume(key)).
		WithEnvVariable("TOKEN", token).
		WithExec([]string{"sh", "-c", `echo "$TOKEN" > /cache/token`}).
		Sync(ctx)
	if err != nil {
		t.Fatalf("writing into cache volume %s: %v", key, err)
	}
	c1.Close()

	ctx2, c2 := connect(t)
	out, err := c2.Container().From("busybox:1.37").
		WithMountedCache("/cache", c2.CacheVolume(key)).
		WithEnvVariable("SLIPWAY_READ", runID+"-second-session").
		WithExec([]string{"cat", "/cache/token"}).
		Stdout(ctx2)
	if err != nil {
		t.Fatalf("reading cache volume %s in a second session: %v", key, err)
	}
	if strings.TrimSpace(out) != token {
		t.Fatalf("second session read %q from cache volume %s, want %q", out, key, token)
	}
}
