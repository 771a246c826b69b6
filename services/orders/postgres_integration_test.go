//go:build integration

package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"testing"
	"time"
)

// TestPostgresStore runs against the Postgres that slipway binds next to the
// integration tests (see service.yaml: dependencies).
func TestPostgresStore(t *testing.T) {
	dsn := os.Getenv("DATABASE_URL")
	if dsn == "" {
		t.Fatal("DATABASE_URL is not set: integration tests need the postgres dependency")
	}
	db, err := sql.Open("postgres", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pg := NewPostgresStore(db)
	if err := pg.Migrate(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	item := fmt.Sprintf("integration-%d", time.Now().UnixNano())
	o, err := pg.Create(ctx, item, 3)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	got, err := pg.Get(ctx, o.ID)
	if err != nil || got.Item != item || got.Quantity != 3 {
		t.Fatalf("get = %+v, %v", got, err)
	}
	var version string
	if err := db.QueryRowContext(ctx, "SHOW server_version").Scan(&version); err != nil {
		t.Fatal(err)
	}
	t.Logf("talked to PostgreSQL %s, order %d", version, o.ID)
	if _, err := pg.Get(ctx, o.ID+1_000_000); err != ErrNotFound {
		t.Fatalf("missing order: err = %v, want ErrNotFound", err)
	}
}
