package config

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/slipwayci/slipway/internal/cabundle"
	"github.com/slipwayci/slipway/internal/testutil"
)

// caCertificates reach every test and build as one bundle that the common
// tools are pointed at; env still wins over those variables.
func TestCACertificates(t *testing.T) {
	corp, mirror := testutil.NewCA(t, "corp root"), testutil.NewCA(t, "mirror")
	fsys := fstest.MapFS{
		"slipway.yaml":          file("caCertificates: [certs/corp.pem, certs/both.pem]\nenv: {PIP_CERT: /etc/pip-ca.pem}\n"),
		"certs/corp.pem":        file(corp.PEM),
		"certs/both.pem":        file(mirror.PEM + corp.PEM),
		"services/a/Dockerfile": file("FROM scratch\n"),
	}
	cfg, err := LoadFS(fsys)
	if err != nil {
		t.Fatal(err)
	}
	if n := cabundle.Count(cfg.Project.CABundle); n != 2 {
		t.Errorf("the bundle holds %d certificates, want 2 (each once)", n)
	}
	s := cfg.Services[0]
	for name, env := range map[string]map[string]string{"build": cfg.Project.BuildArgs(s), "test": cfg.Project.TestEnv(s)} {
		if env["SSL_CERT_FILE"] != cabundle.BundlePath || env["NODE_EXTRA_CA_CERTS"] != cabundle.BundlePath || env["PIP_CERT"] != "/etc/pip-ca.pem" {
			t.Errorf("%s environment: %v", name, env)
		}
	}

	// Without caCertificates nothing is added.
	cfg, err = LoadFS(fstest.MapFS{"services/a/Dockerfile": file("FROM scratch\n")})
	if err != nil {
		t.Fatal(err)
	}
	if env := cfg.Project.TestEnv(cfg.Services[0]); len(env) != 0 || cfg.Project.BuildArgs(cfg.Services[0]) != nil {
		t.Errorf("no caCertificates, yet test env %v, build args %v", env, cfg.Project.BuildArgs(cfg.Services[0]))
	}
}

func TestCACertificateErrors(t *testing.T) {
	corp := testutil.NewCA(t, "corp root")
	fsys := fstest.MapFS{
		"slipway.yaml":          file("caCertificates:\n  - certs/missing.pem\n  - certs/key.pem\n  - /etc/ssl/corp.pem\n  - certs/ok.pem\n  - README.md\n"),
		"certs/key.pem":         file(corp.PEM + "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n"),
		"certs/ok.pem":          file(corp.PEM),
		"README.md":             file("hello\n"),
		"services/a/Dockerfile": file("FROM scratch\n"),
	}
	_, err := LoadFS(fsys)
	wantErrors(t, err,
		"slipway.yaml:2: caCertificates[0]: certs/missing.pem: no such file in the repository",
		"slipway.yaml:3: caCertificates[1]: certs/key.pem block 2 is \"EC PRIVATE KEY\", not a CERTIFICATE",
		`slipway.yaml:4: caCertificates[2]: "/etc/ssl/corp.pem" must be relative to the repository root`,
		"slipway.yaml:6: caCertificates[4]: README.md holds no PEM certificate")
	if err != nil && strings.Contains(err.Error(), "caCertificates[3]") {
		t.Errorf("a good file was refused: %v", err)
	}
}
