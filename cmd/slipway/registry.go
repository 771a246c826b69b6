package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"time"

	"github.com/slipwayci/slipway/internal/regserver"
)

func init() {
	register("registry", "serve a persistent OCI registry (the embedded default)", runRegistry)
}

func runRegistry(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("registry", stderr)
	addr := fs.String("addr", ":5000", "listen address")
	dir := fs.String("dir", "/var/lib/slipway-registry", "storage directory (blobs and manifest journal)")
	verbose := fs.Bool("v", false, "log every request")
	if err := parse(fs, args); err != nil {
		return err
	}
	var logger *log.Logger
	if *verbose {
		logger = log.New(stderr, "registry: ", log.LstdFlags)
	}
	s, err := regserver.Open(*dir, logger)
	if err != nil {
		return err
	}
	defer s.Close()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "registry: serving on %s from %s (%d manifest records replayed)\n", ln.Addr(), *dir, s.Replayed)
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shutdown)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
