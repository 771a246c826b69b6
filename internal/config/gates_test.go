package config

import (
	"testing"
	"testing/fstest"
	"time"
)

func TestClusterAndGates(t *testing.T) {
	with := func(yaml string) fstest.MapFS {
		return fstest.MapFS{"slipway.yaml": file(yaml), "services/api/Dockerfile": file("FROM scratch\n")}
	}
	good := `environments:
  - name: dev
    autoDeploy: true
  - name: staging
    cluster:
      context: staging
      controller: flux
      objects: [flux-system/shop-staging]
      namespaces: [shop-staging]
      timeout: 5m
      probes:
        - service: api
          http: https://api.staging.example/healthz
        - service: api
          tcp: api.staging.example:443
  - name: prod
    requireVerifiedIn: [staging]
    minSoak: 2h
    requireApproval: true
    approvers:
      keys: [keys/release.pub]
`
	cfg, err := LoadFS(with(good))
	if err != nil {
		t.Fatal(err)
	}
	st, _ := cfg.Environment("staging")
	if st.Cluster == nil || st.Cluster.Controller != "flux" || st.Cluster.VerifyTimeout() != 5*time.Minute || len(st.Cluster.Probes) != 2 {
		t.Fatalf("staging cluster: %+v", st.Cluster)
	}
	prod, _ := cfg.Environment("prod")
	if prod.MinSoak.D() != 2*time.Hour || !prod.RequireApproval || prod.Approvers.Keys[0] != "keys/release.pub" || prod.RequireVerifiedIn[0] != "staging" {
		t.Fatalf("prod gates: %+v", prod)
	}
	if d, _ := cfg.Environment("dev"); d.Cluster.VerifyTimeout() != DefaultVerifyTimeout {
		t.Fatal("no cluster: the default timeout")
	}

	for _, tc := range []struct {
		yaml string
		want []string
	}{
		{"environments:\n  - name: dev\n    cluster:\n      controller: kubectl\n",
			[]string{"slipway.yaml:4: environments[0].cluster.controller: \"kubectl\" is not a GitOps controller slipway reads (one of flux, argocd, none)"}},
		{"environments:\n  - name: dev\n    cluster:\n      controller: flux\n",
			[]string{"environments[0].cluster.objects: lists no flux object (namespace/name of the Kustomization that applies dev)"}},
		{"environments:\n  - name: dev\n    cluster:\n      controller: argocd\n      objects: [shop-dev]\n",
			[]string{"environments[0].cluster.objects[0]: \"shop-dev\" is not namespace/name"}},
		{"environments:\n  - name: dev\n    cluster:\n      controller: none\n      probes:\n        - service: api\n          http: api:8080\n          tcp: api:8080\n",
			[]string{"environments[0].cluster.probes[0]: give exactly one of http, grpc and tcp", "environments[0].cluster.probes[0].http: \"api:8080\" is not an http(s) URL"}},
		{"environments:\n  - name: dev\n  - name: prod\n    requireVerifiedIn: [dev, qa, prod]\n",
			[]string{"environments[1].requireVerifiedIn[0]: environment dev has no cluster", "environments[1].requireVerifiedIn[1]: \"qa\" is not a declared environment", "environments[1].requireVerifiedIn[2]: \"prod\" is this environment"}},
		{"environments:\n  - name: prod\n    requireApproval: true\n",
			[]string{"environments[0].requireApproval: no approvers"}},
		{"environments:\n  - name: prod\n    minSoak: -2h\n    approvers:\n      keys: [../outside.pub]\n      identities: [{issuer: https://token.actions.githubusercontent.com}]\n",
			[]string{"environments[0].minSoak: -2h0m0s is negative", "environments[0].approvers.keys[0]:", "environments[0].approvers.identities[0]: give exactly one of subject and subjectRegexp"}},
	} {
		_, err := LoadFS(with(tc.yaml))
		wantErrors(t, err, tc.want...)
	}
	// In pull-request mode, merging the environment's pull request is the
	// approval: no approvers needed.
	if _, err := LoadFS(with("environments:\n  - name: prod\n    mode: pull-request\n    requireApproval: true\n")); err != nil {
		t.Fatal(err)
	}
}
