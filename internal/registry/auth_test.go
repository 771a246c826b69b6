package registry

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipwayci/slipway/internal/registry/registrytest"
)

const testPassword = "s3cret-pa55word"

func TestBasicAuth(t *testing.T) {
	ctx := context.Background()
	auth := registrytest.BasicAuth(registrytest.Handler(), "ci", testPassword)
	host := registrytest.Serve(t, auth)
	img := registrytest.Image(t, registrytest.ImageSpec{Seed: 40})

	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	good := newClient(t, WithBasicAuth(host, "ci", testPassword), WithLogger(logger))
	d, err := good.PushImage(ctx, img, host+"/app:v1")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := good.Resolve(ctx, host+"/app:v1"); err != nil || got != d {
		t.Fatalf("Resolve with credentials: %v %v", got, err)
	}

	for name, c := range map[string]*Client{
		"wrong password": newClient(t, WithBasicAuth(host, "ci", "wrong-"+testPassword), WithRetry(DefaultRetryPolicy())),
		"anonymous":      newClient(t, WithRetry(DefaultRetryPolicy())),
	} {
		t.Run(name, func(t *testing.T) {
			before := auth.Denied()
			_, err := c.Resolve(ctx, host+"/app:v1")
			if !errors.Is(err, ErrUnauthorized) {
				t.Fatalf("Resolve: %v, want ErrUnauthorized", err)
			}
			if n := auth.Denied() - before; n != 1 {
				t.Errorf("the registry refused %d requests, want exactly 1 (no retry on 401)", n)
			}
			msg := err.Error()
			if !strings.Contains(msg, host+"/app:v1") || !strings.Contains(msg, "check the credentials for "+host) {
				t.Errorf("error %q does not name the reference and what to check", msg)
			}
			before = auth.Denied()
			_, err = c.PushImage(ctx, img, host+"/app:v2")
			if !errors.Is(err, ErrUnauthorized) {
				t.Fatalf("PushImage: %v, want ErrUnauthorized", err)
			}
			if n := auth.Denied() - before; n != 1 {
				t.Errorf("push: the registry refused %d requests, want exactly 1", n)
			}
			if strings.Contains(err.Error(), testPassword) {
				t.Error("the error message contains the password")
			}
		})
	}
	if strings.Contains(logs.String(), testPassword) {
		t.Error("the log contains the password")
	}
}

func TestTokenAuth(t *testing.T) {
	ctx := context.Background()
	host := registrytest.Serve(t, registrytest.BearerAuth(registrytest.Handler(), "tok-123"))
	c := newClient(t, WithToken(host, "tok-123"))
	if _, err := c.PushImage(ctx, registrytest.Image(t, registrytest.ImageSpec{Seed: 41}), host+"/app:v1"); err != nil {
		t.Fatal(err)
	}
	bad := newClient(t, WithToken(host, "tok-456"))
	if _, err := bad.Resolve(ctx, host+"/app:v1"); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("wrong token: %v", err)
	}
}

func TestDockerConfig(t *testing.T) {
	ctx := context.Background()
	host := registrytest.Serve(t, registrytest.BasicAuth(registrytest.Handler(), "ci", testPassword))
	other := registrytest.Serve(t, registrytest.BasicAuth(registrytest.Handler(), "bot", "pw2"))
	cfg := `{"auths": {
		"` + host + `": {"auth": "` + base64.StdEncoding.EncodeToString([]byte("ci:"+testPassword)) + `"},
		"http://` + other + `/v1/": {"username": "bot", "password": "pw2"}
	}}`
	path := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, opt := range map[string]Option{"file": WithDockerConfig(path), "json": WithDockerConfigJSON([]byte(cfg))} {
		t.Run(name, func(t *testing.T) {
			c := newClient(t, opt)
			img := registrytest.Image(t, registrytest.ImageSpec{Seed: 42})
			if _, err := c.PushImage(ctx, img, host+"/app:v1", other+"/app:v1"); err != nil {
				t.Fatal(err)
			}
		})
	}
	// Explicit credentials win over the config file.
	c := newClient(t, WithDockerConfig(path), WithBasicAuth(host, "ci", "wrong"))
	if _, err := c.Resolve(ctx, host+"/app:v1"); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("explicit credentials did not take precedence: %v", err)
	}
}

func TestDockerConfigErrorsKeepSecretsOut(t *testing.T) {
	for name, cfg := range map[string]string{
		"bad json":    `{"auths": {"h": {"auth": "` + testPassword + `"`,
		"bad base64":  `{"auths": {"h": {"auth": "` + testPassword + `!!"}}}`,
		"no colon":    `{"auths": {"h": {"auth": "` + base64.StdEncoding.EncodeToString([]byte(testPassword)) + `"}}}`,
		"helper only": `{"credsStore": "desktop"}`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := New(WithDockerConfigJSON([]byte(cfg)))
			if err == nil {
				t.Fatal("accepted")
			}
			if strings.Contains(err.Error(), testPassword) || strings.Contains(err.Error(), base64.StdEncoding.EncodeToString([]byte(testPassword))) {
				t.Errorf("error %q leaks the secret", err)
			}
		})
	}
	if _, err := New(WithDockerConfig(filepath.Join(t.TempDir(), "missing.json"))); err == nil || !strings.Contains(err.Error(), "missing.json") {
		t.Errorf("missing file: %v", err)
	}
}

func TestOptionValidation(t *testing.T) {
	for name, opt := range map[string]Option{
		"empty host":     WithBasicAuth("", "u", "p"),
		"empty password": WithBasicAuth("h", "u", ""),
		"empty token":    WithToken("h", ""),
		"nil transport":  WithTransport(nil),
		"nil logger":     WithLogger(nil),
		"bad jobs":       WithJobs(0),
		"empty insecure": WithInsecure(""),
		"zero attempts":  WithRetry(RetryPolicy{}),
		"bad jitter":     WithRetry(RetryPolicy{MaxAttempts: 2, BaseDelay: 1, Jitter: 2}),
		"max below base": WithRetry(RetryPolicy{MaxAttempts: 2, BaseDelay: 10, MaxDelay: 1}),
		"no base delay":  WithRetry(RetryPolicy{MaxAttempts: 2}),
	} {
		if _, err := New(opt); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if err := DefaultRetryPolicy().Validate(); err != nil {
		t.Errorf("default policy invalid: %v", err)
	}
	if err := NoRetry().Validate(); err != nil {
		t.Errorf("NoRetry invalid: %v", err)
	}
}

func TestNormalizeHost(t *testing.T) {
	for in, want := range map[string]string{
		"https://index.docker.io/v1/": "index.docker.io",
		"docker.io":                   "index.docker.io",
		"GHCR.io/":                    "ghcr.io",
		"http://127.0.0.1:5000":       "127.0.0.1:5000",
		"localhost:5000":              "localhost:5000",
	} {
		if got := normalizeHost(in); got != want {
			t.Errorf("normalizeHost(%q) = %q, want %q", in, got, want)
		}
	}
}
