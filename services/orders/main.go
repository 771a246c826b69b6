// Command orders is a small order-taking HTTP API backed by Postgres (or by
// memory when DATABASE_URL is unset). It is one of slipway's sample services.
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	_ "github.com/lib/pq"
)

func main() {
	addr := flag.String("addr", envOr("ADDR", ":8080"), "listen address")
	health := flag.Bool("healthcheck", false, "probe the local readiness endpoint and exit (for HEALTHCHECK)")
	flag.Parse()
	if *health {
		os.Exit(probe("http://127.0.0.1" + portOf(*addr) + "/health/ready"))
	}
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	if err := run(*addr, log); err != nil {
		log.Error("orders stopped", "error", err)
		os.Exit(1)
	}
}

func run(addr string, log *slog.Logger) error {
	var store Store = NewMemoryStore()
	if dsn := os.Getenv("DATABASE_URL"); dsn != "" {
		db, err := sql.Open("postgres", dsn)
		if err != nil {
			return fmt.Errorf("opening database: %w", err)
		}
		defer db.Close()
		pg := NewPostgresStore(db)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err = pg.Migrate(ctx)
		cancel()
		if err != nil {
			return fmt.Errorf("migrating database: %w", err)
		}
		store = pg
	}
	srv := &http.Server{Addr: addr, Handler: NewAPI(store, log).Routes(), ReadHeaderTimeout: 5 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(shutdown)
	}()
	log.Info("orders listening", "addr", addr, "store", store.Kind())
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func portOf(addr string) string {
	for i := len(addr) - 1; i >= 0; i-- {
		if addr[i] == ':' {
			return addr[i:]
		}
	}
	return ":8080"
}

func probe(url string) int {
	c := http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		fmt.Fprintln(os.Stderr, "readiness:", resp.Status)
		return 1
	}
	return 0
}
