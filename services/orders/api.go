package main

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Order is one customer order.
type Order struct {
	ID       int64     `json:"id"`
	Item     string    `json:"item"`
	Quantity int       `json:"quantity"`
	Created  time.Time `json:"created"`
}

// ErrNotFound is returned by stores for a missing order.
var ErrNotFound = errors.New("order not found")

// Store keeps orders.
type Store interface {
	Kind() string
	Ping(ctx context.Context) error
	Create(ctx context.Context, item string, quantity int) (Order, error)
	Get(ctx context.Context, id int64) (Order, error)
	List(ctx context.Context) ([]Order, error)
}

// API serves the HTTP endpoints.
type API struct {
	store Store
	log   *slog.Logger
}

// NewAPI returns the HTTP API over store.
func NewAPI(store Store, log *slog.Logger) *API { return &API{store: store, log: log} }

// Routes returns the handler with every endpoint.
func (a *API) Routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health/live", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "live"})
	})
	mux.HandleFunc("GET /health/ready", a.ready)
	mux.HandleFunc("GET /orders", a.list)
	mux.HandleFunc("POST /orders", a.create)
	mux.HandleFunc("GET /orders/{id}", a.get)
	return mux
}

func (a *API) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := a.store.Ping(ctx); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "store": a.store.Kind(), "error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready", "store": a.store.Kind()})
}

func (a *API) list(w http.ResponseWriter, r *http.Request) {
	orders, err := a.store.List(r.Context())
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, orders)
}

type createRequest struct {
	Item     string `json:"item"`
	Quantity int    `json:"quantity"`
}

func (a *API) create(w http.ResponseWriter, r *http.Request) {
	var req createRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid JSON body: " + err.Error()})
		return
	}
	req.Item = strings.TrimSpace(req.Item)
	switch {
	case req.Item == "":
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "item must not be empty"})
		return
	case req.Quantity < 1 || req.Quantity > 1000:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "quantity must be between 1 and 1000"})
		return
	}
	o, err := a.store.Create(r.Context(), req.Item, req.Quantity)
	if err != nil {
		a.fail(w, err)
		return
	}
	w.Header().Set("Location", "/orders/"+strconv.FormatInt(o.ID, 10))
	writeJSON(w, http.StatusCreated, o)
}

func (a *API) get(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "id must be a number"})
		return
	}
	o, err := a.store.Get(r.Context(), id)
	if errors.Is(err, ErrNotFound) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
		return
	}
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, o)
}

func (a *API) fail(w http.ResponseWriter, err error) {
	a.log.Error("request failed", "error", err)
	writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "internal error"})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
