// Command timestamp-authority serves the RFC 3161 timestamp authority of
// sigstore/timestamp-authority (its REST API and in-memory signer, as
// `timestamp-server serve --timestamp-signer memory` does) for the local
// Sigstore stack of the tests (internal/signing/sigstoretest).
//
// It exists because timestamp-server always opens a metrics listener on
// port 2112 of every interface, so two stacks (or anything else on that
// port) cannot run side by side; this main starts the same API server
// without it.
package main

import (
	"flag"
	"log"
	"time"

	"github.com/sigstore/timestamp-authority/v2/pkg/server"
	"github.com/spf13/viper"
)

func main() {
	host := flag.String("host", "127.0.0.1", "address to listen on")
	port := flag.Int("port", 3004, "port to listen on")
	flag.Parse()
	// The settings timestamp-server's flags default to, for the memory
	// signer.
	for k, v := range map[string]any{
		"timestamp-signer":         "memory",
		"timestamp-signer-hash":    "sha256",
		"enforce-intermediate-eku": true,
		"default-policy-oid":       "1.3.6.1.4.1.57264.2",
		"accepted-policy-oids":     []string{"1.3.6.1.4.1.57264.2"},
		"max-request-body-size":    uint64(1 << 20),
	} {
		viper.Set(k, v)
	}
	srv := server.NewRestAPIServer(*host, *port, []string{"http"}, false, 10*time.Second, 10*time.Second)
	srv.CleanupTimeout = 5 * time.Second
	defer srv.Shutdown() //nolint:errcheck // exiting
	if err := srv.Serve(); err != nil {
		log.Fatal(err)
	}
}
