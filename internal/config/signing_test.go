package config

import (
	"testing"
	"testing/fstest"
)

func TestKeylessSigningConfiguration(t *testing.T) {
	fsys := fstest.MapFS{
		"slipway.yaml": file(`signing:
  keyless:
    signingConfig: sigstore/signing_config.json
    trustedRoot: sigstore/trusted_root.json
  identities:
    - issuer: https://token.actions.githubusercontent.com
      subject: https://github.com/acme/shop/.github/workflows/ci.yml@refs/heads/main
environments:
  - name: dev
    autoDeploy: true
  - name: prod
    requireSignature: true
    signedBy:
      - issuer: https://token.actions.githubusercontent.com
        subjectRegexp: https://github\.com/acme/shop/\.github/workflows/promote\.yml@refs/tags/v.*
        repository: acme/shop
        workflow: .github/workflows/promote.yml
`),
		"sigstore/signing_config.json": file(`{"mediaType": "application/vnd.dev.sigstore.signingconfig.v0.2+json", "caUrls": []}`),
		"sigstore/trusted_root.json":   file(`{"mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1"}`),
		"services/a/Dockerfile":        file("FROM scratch\n"),
	}
	cfg, err := LoadFS(fsys)
	if err != nil {
		t.Fatal(err)
	}
	k := cfg.Project.Signing.Keyless
	if k.SigningConfigJSON == "" || k.TrustedRootJSON == "" {
		t.Errorf("the Sigstore files were not read: %+v", k)
	}
	if got := cfg.Project.SignersFor("dev"); len(got) != 1 || got[0].Subject == "" {
		t.Errorf("dev accepts %+v, want signing.identities", got)
	}
	if got := cfg.Project.SignersFor("prod"); len(got) != 1 || got[0].Workflow != ".github/workflows/promote.yml" {
		t.Errorf("prod accepts %+v, want its signedBy", got)
	}
}

func TestKeylessSigningConfigurationErrors(t *testing.T) {
	fsys := fstest.MapFS{
		"slipway.yaml": file(`signing:
  keyless:
    signingConfig: sigstore/missing.json
    trustedRoot: sigstore/root.json
  identities:
    - subject: https://github.com/acme/shop/.github/workflows/ci.yml@refs/heads/main
    - issuer: https://token.actions.githubusercontent.com
      subjectRegexp: "(unclosed"
environments:
  - name: prod
    signedBy:
      - issuer: x
        issuerRegexp: y
        subject: s
        workflow: /ci.yml
        repository: shop
`),
		"sigstore/root.json":    file(`{"mediaType": "application/vnd.dev.sigstore.signingconfig.v0.2+json"}`),
		"services/a/Dockerfile": file("FROM scratch\n"),
	}
	_, err := LoadFS(fsys)
	wantErrors(t, err,
		"slipway.yaml:12: environments[0].signedBy[0]: give exactly one of issuer and issuerRegexp",
		`slipway.yaml:15: environments[0].signedBy[0].workflow: "/ci.yml": give the workflow file's path in the repository`,
		`slipway.yaml:16: environments[0].signedBy[0].repository: "shop" is not owner/name`,
		"slipway.yaml:6: signing.identities[0]: give exactly one of issuer and issuerRegexp",
		`slipway.yaml:8: signing.identities[1].subjectRegexp: "(unclosed" is not a regular expression`,
		"slipway.yaml:3: signing.keyless.signingConfig: sigstore/missing.json: no such file in the repository",
		`slipway.yaml:4: signing.keyless.trustedRoot: sigstore/root.json has mediaType "application/vnd.dev.sigstore.signingconfig.v0.2+json", want application/vnd.dev.sigstore.trustedroot…`)
}
