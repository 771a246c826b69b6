package main

import (
	"context"
	"database/sql"
	"errors"
	"sort"
	"sync"
	"time"
)

// MemoryStore keeps orders in memory (for local runs without a database).
type MemoryStore struct {
	mu     sync.Mutex
	next   int64
	orders map[int64]Order
}

// NewMemoryStore returns an empty in-memory store.
func NewMemoryStore() *MemoryStore { return &MemoryStore{orders: map[int64]Order{}} }

func (m *MemoryStore) Kind() string                   { return "memory" }
func (m *MemoryStore) Ping(ctx context.Context) error { return ctx.Err() }

func (m *MemoryStore) Create(ctx context.Context, item string, quantity int) (Order, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.next++
	o := Order{ID: m.next, Item: item, Quantity: quantity, Created: time.Now().UTC()}
	m.orders[o.ID] = o
	return o, nil
}

func (m *MemoryStore) Get(ctx context.Context, id int64) (Order, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.orders[id]
	if !ok {
		return Order{}, ErrNotFound
	}
	return o, nil
}

func (m *MemoryStore) List(ctx context.Context) ([]Order, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Order, 0, len(m.orders))
	for _, o := range m.orders {
		out = append(out, o)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// PostgresStore keeps orders in a Postgres table.
type PostgresStore struct{ db *sql.DB }

// NewPostgresStore wraps an open database handle.
func NewPostgresStore(db *sql.DB) *PostgresStore { return &PostgresStore{db: db} }

func (p *PostgresStore) Kind() string                   { return "postgres" }
func (p *PostgresStore) Ping(ctx context.Context) error { return p.db.PingContext(ctx) }

// Migrate creates the schema, retrying while the database starts.
func (p *PostgresStore) Migrate(ctx context.Context) error {
	const ddl = `CREATE TABLE IF NOT EXISTS orders (
		id BIGSERIAL PRIMARY KEY,
		item TEXT NOT NULL,
		quantity INTEGER NOT NULL CHECK (quantity > 0),
		created TIMESTAMPTZ NOT NULL DEFAULT now())`
	var err error
	for {
		if _, err = p.db.ExecContext(ctx, ddl); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.Join(ctx.Err(), err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func (p *PostgresStore) Create(ctx context.Context, item string, quantity int) (Order, error) {
	o := Order{Item: item, Quantity: quantity}
	err := p.db.QueryRowContext(ctx, `INSERT INTO orders (item, quantity) VALUES ($1, $2) RETURNING id, created`, item, quantity).Scan(&o.ID, &o.Created)
	return o, err
}

func (p *PostgresStore) Get(ctx context.Context, id int64) (Order, error) {
	o := Order{ID: id}
	err := p.db.QueryRowContext(ctx, `SELECT item, quantity, created FROM orders WHERE id = $1`, id).Scan(&o.Item, &o.Quantity, &o.Created)
	if errors.Is(err, sql.ErrNoRows) {
		return Order{}, ErrNotFound
	}
	return o, err
}

func (p *PostgresStore) List(ctx context.Context) ([]Order, error) {
	rows, err := p.db.QueryContext(ctx, `SELECT id, item, quantity, created FROM orders ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Order{}
	for rows.Next() {
		var o Order
		if err := rows.Scan(&o.ID, &o.Item, &o.Quantity, &o.Created); err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, rows.Err()
}
