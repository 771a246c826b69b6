package sigstoretest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	prototrustroot "github.com/sigstore/protobuf-specs/gen/pb-go/trustroot/v1"
	"github.com/sigstore/sigstore-go/pkg/root"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/slipwayci/slipway/internal/testutil"
)

// Stack is a private Sigstore instance: the Issuer, Fulcio (an ephemeral
// CA, no CT log), Rekor v2 (POSIX storage) and a timestamp authority, each
// the real server built from its pinned module (hack/tools/fulcio,
// rekor-tiles, timestamp-authority), listening on one host.
type Stack struct {
	Issuer *Issuer
	// FulcioURL, RekorURL and TSAURL are the services' base URLs.
	FulcioURL, RekorURL, TSAURL string
	// TrustedRoot and SigningConfig describe the stack in Sigstore's
	// formats (trusted root v0.1, signing config v0.2). The trusted root
	// lists no CT log: Fulcio logs to none, so verifiers must skip the
	// SCT check (cosign --insecure-ignore-sct) for this stack only.
	TrustedRoot, SigningConfig []byte
	// Dir holds the stack's files: trusted_root.json, signing_config.json
	// and the servers' logs.
	Dir string
}

// Start builds (once per pinned version) and starts a stack whose services
// listen on host ("127.0.0.1", or an address the engine's containers
// reach). Everything stops when the test ends. w is the workflow the
// issuer's token endpoint speaks for.
func Start(t testing.TB, host string, w Workflow) *Stack {
	t.Helper()
	bins := map[string]string{}
	for _, name := range []string{"fulcio", "rekor-tiles", "timestamp-authority"} {
		bins[name] = testutil.Tool(t, name)
	}
	dir := t.TempDir()
	s := &Stack{Dir: dir}
	iss, err := StartIssuer(net.JoinHostPort(host, "0"), w)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { iss.Close() })
	s.Issuer = iss

	port := func() string { return strconv.Itoa(freePort(t, host)) }
	// The gRPC servers stay on loopback: Fulcio's HTTP API reaches its own
	// gRPC server at 127.0.0.1, and nothing else needs them.
	loopbackPort := func() string { return strconv.Itoa(freePort(t, "127.0.0.1")) }
	// Rekor's checkpoints are signed with an ECDSA P-256 key; its log ID
	// is the SHA-256 of the public key (DER).
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "rekor-key.pem"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	fcfg, err := json.Marshal(map[string]any{"OIDCIssuers": map[string]any{iss.URL: map[string]string{
		"IssuerURL": iss.URL, "ClientID": Audience, "Type": "github-workflow"}}})
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "fulcio-config.json"), fcfg)

	tsaPort, rekorPort, fulcioPort := port(), port(), port()
	s.TSAURL = "http://" + net.JoinHostPort(host, tsaPort)
	s.RekorURL = "http://" + net.JoinHostPort(host, rekorPort)
	s.FulcioURL = "http://" + net.JoinHostPort(host, fulcioPort)
	run(t, dir, "timestamp-authority", bins["timestamp-authority"], "--host", host, "--port", tsaPort)
	run(t, dir, "rekor", bins["rekor-tiles"], "serve", "--hostname", host,
		"--http-address", host, "--http-port", rekorPort, "--grpc-address", "127.0.0.1", "--grpc-port", loopbackPort(),
		"--http-metrics-port", port(), "--storage-dir", filepath.Join(dir, "rekor-storage"),
		"--signer-filepath", filepath.Join(dir, "rekor-key.pem"), "--checkpoint-interval", "1s")
	run(t, dir, "fulcio", bins["fulcio"], "serve", "--ca", "ephemeralca", "--ct-log-url", "",
		"--config-path", filepath.Join(dir, "fulcio-config.json"),
		"--host", host, "--port", fulcioPort, "--grpc-host", "127.0.0.1", "--grpc-port", loopbackPort(), "--metrics-port", port(),
		"--legacy-unix-domain-socket", filepath.Join(dir, "fulcio-legacy.sock"))
	for _, u := range []string{s.TSAURL + "/api/v1/timestamp/certchain", s.RekorURL + "/healthz", s.FulcioURL + "/api/v2/trustBundle"} {
		waitFor(t, dir, u)
	}
	s.TrustedRoot, s.SigningConfig = describe(t, s, pubDER)
	write(t, filepath.Join(dir, "trusted_root.json"), s.TrustedRoot)
	write(t, filepath.Join(dir, "signing_config.json"), s.SigningConfig)
	return s
}

func write(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func freePort(t testing.TB, host string) int {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// run starts a server, logging to dir/name.log, and stops it (by its PID)
// when the test ends.
func run(t testing.TB, dir, name, bin string, args ...string) {
	t.Helper()
	logf, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	// HOME in the stack's directory: nothing reads or writes the user's.
	cmd.Env = append(os.Environ(), "HOME="+dir)
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("starting %s: %v", name, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(done) }() //nolint:errcheck // exit status is expected on stop
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt) //nolint:errcheck // it may have exited
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill() //nolint:errcheck // it may have exited
			<-done
		}
	})
}

// waitFor polls u until it answers 200, for up to a minute; on timeout the
// servers' logs are shown.
func waitFor(t testing.TB, dir, u string) {
	t.Helper()
	c := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := c.Get(u)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			var logs strings.Builder
			files, _ := filepath.Glob(filepath.Join(dir, "*.log"))
			for _, f := range files {
				b, _ := os.ReadFile(f)
				if len(b) > 3000 {
					b = b[len(b)-3000:]
				}
				fmt.Fprintf(&logs, "--- %s\n%s\n", filepath.Base(f), b)
			}
			t.Fatalf("the Sigstore stack: %s did not answer within a minute (last error: %v)\n%s", u, err, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func get(t testing.TB, u string) []byte {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", u, resp.StatusCode, err)
	}
	return b
}

// pemChain parses PEM certificates (in order) into the trusted root's form.
func pemChain(t testing.TB, b []byte) []*protocommon.X509Certificate {
	t.Helper()
	var out []*protocommon.X509Certificate
	for {
		var blk *pem.Block
		if blk, b = pem.Decode(b); blk == nil {
			return out
		}
		if _, err := x509.ParseCertificate(blk.Bytes); err != nil {
			t.Fatal(err)
		}
		out = append(out, &protocommon.X509Certificate{RawBytes: blk.Bytes})
	}
}

func subjectOf(t testing.TB, der []byte) *protocommon.DistinguishedName {
	t.Helper()
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	dn := &protocommon.DistinguishedName{CommonName: c.Subject.CommonName}
	if len(c.Subject.Organization) > 0 {
		dn.Organization = c.Subject.Organization[0]
	}
	return dn
}

// describe writes the trusted root and the signing config of the running
// stack, each checked by loading it with sigstore-go.
func describe(t testing.TB, s *Stack, rekorPub []byte) (trustedRoot, signingConfig []byte) {
	t.Helper()
	// Valid from a day ago: generous against clock skew.
	validFor := &protocommon.TimeRange{Start: timestamppb.New(time.Now().Add(-24 * time.Hour))}
	var bundle struct {
		Chains []struct {
			Certificates []string `json:"certificates"`
		} `json:"chains"`
	}
	if err := json.Unmarshal(get(t, s.FulcioURL+"/api/v2/trustBundle"), &bundle); err != nil {
		t.Fatal(err)
	}
	var cas []*prototrustroot.CertificateAuthority
	for _, ch := range bundle.Chains {
		certs := pemChain(t, []byte(strings.Join(ch.Certificates, "")))
		cas = append(cas, &prototrustroot.CertificateAuthority{
			Subject: subjectOf(t, certs[len(certs)-1].RawBytes), Uri: s.FulcioURL,
			CertChain: &protocommon.X509CertificateChain{Certificates: certs}, ValidFor: validFor,
		})
	}
	tsaCerts := pemChain(t, get(t, s.TSAURL+"/api/v1/timestamp/certchain"))
	id := sha256.Sum256(rekorPub)
	tr := &prototrustroot.TrustedRoot{
		MediaType: "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
		Tlogs: []*prototrustroot.TransparencyLogInstance{{
			BaseUrl: s.RekorURL, HashAlgorithm: protocommon.HashAlgorithm_SHA2_256,
			PublicKey: &protocommon.PublicKey{RawBytes: rekorPub, KeyDetails: protocommon.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256, ValidFor: validFor},
			LogId:     &protocommon.LogId{KeyId: id[:]}, CheckpointKeyId: &protocommon.LogId{KeyId: id[:]},
		}},
		CertificateAuthorities: cas,
		TimestampAuthorities: []*prototrustroot.CertificateAuthority{{
			Subject: subjectOf(t, tsaCerts[len(tsaCerts)-1].RawBytes), Uri: s.TSAURL,
			CertChain: &protocommon.X509CertificateChain{Certificates: tsaCerts}, ValidFor: validFor,
		}},
	}
	svc := func(u string, v uint32) []*prototrustroot.Service {
		return []*prototrustroot.Service{{Url: u, MajorApiVersion: v, ValidFor: validFor, Operator: "slipway-tests"}}
	}
	sc := &prototrustroot.SigningConfig{
		MediaType:       "application/vnd.dev.sigstore.signingconfig.v0.2+json",
		CaUrls:          svc(s.FulcioURL, 1),
		OidcUrls:        svc(s.Issuer.URL, 1),
		RekorTlogUrls:   svc(s.RekorURL, 2),
		RekorTlogConfig: &prototrustroot.ServiceConfiguration{Selector: prototrustroot.ServiceSelector_ANY},
		TsaUrls:         svc(s.TSAURL+"/api/v1/timestamp", 1),
		TsaConfig:       &prototrustroot.ServiceConfiguration{Selector: prototrustroot.ServiceSelector_ANY},
	}
	m := protojson.MarshalOptions{Multiline: true, Indent: "  "}
	var err error
	if trustedRoot, err = m.Marshal(tr); err != nil {
		t.Fatal(err)
	}
	if _, err := root.NewTrustedRootFromJSON(trustedRoot); err != nil {
		t.Fatalf("sigstore-go refuses the generated trusted root: %v", err)
	}
	if signingConfig, err = m.Marshal(sc); err != nil {
		t.Fatal(err)
	}
	if _, err := root.NewSigningConfigFromJSON(signingConfig); err != nil {
		t.Fatalf("sigstore-go refuses the generated signing config: %v", err)
	}
	return trustedRoot, signingConfig
}
