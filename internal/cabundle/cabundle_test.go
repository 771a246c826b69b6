package cabundle

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"
)

func testCA(t *testing.T, name string) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func TestParse(t *testing.T) {
	a, b := testCA(t, "corp root"), testCA(t, "mirror")
	certs, err := Parse([]byte("Certificate:\n    Data: (openssl x509 -text puts this first)\n" + a + b))
	if err != nil || len(certs) != 2 || certs[0].Subject.CommonName != "corp root" {
		t.Fatalf("Parse = %d certificates, %v", len(certs), err)
	}
	for text, want := range map[string]string{
		"":   "holds no PEM certificate",
		"hi": "holds no PEM certificate",
		a + "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n": `block 2 is "PRIVATE KEY", not a CERTIFICATE`,
		"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n":     "certificate 1 does not parse",
	} {
		if _, err := Parse([]byte(text)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%.30q) = %v, want %q", text, err, want)
		}
	}
}

func TestMergeKeepsEachCertificateOnce(t *testing.T) {
	a, b, c := testCA(t, "a"), testCA(t, "b"), testCA(t, "c")
	system := "# the image's bundle\n" + a + "\n" + b
	got := Merge(system, b+c, "")
	if Count(got) != 3 || !strings.HasPrefix(got, a) || !strings.HasSuffix(got, c) || strings.Contains(got, "#") {
		t.Errorf("Merge: %d certificates:\n%s", Count(got), got)
	}
	if Merge("", "no pem here") != "" {
		t.Error("Merge made certificates of nothing")
	}
}

func TestEnvPointsAtTheBundle(t *testing.T) {
	env := Env()
	for _, k := range []string{"SSL_CERT_FILE", "PIP_CERT", "NODE_EXTRA_CA_CERTS", "REQUESTS_CA_BUNDLE"} {
		if env[k] != BundlePath {
			t.Errorf("%s=%q", k, env[k])
		}
	}
	if env["APT_CONFIG"] != AptConfPath || !strings.Contains(AptConf, BundlePath) {
		t.Errorf("apt: APT_CONFIG=%q, %q", env["APT_CONFIG"], AptConf)
	}
}
