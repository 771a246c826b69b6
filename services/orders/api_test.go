package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func newServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(NewAPI(NewMemoryStore(), slog.New(slog.NewTextHandler(io.Discard, nil))).Routes())
	t.Cleanup(srv.Close)
	return srv
}

func do(t *testing.T, method, url, body string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestHealth(t *testing.T) {
	srv := newServer(t)
	for _, p := range []string{"/health/live", "/health/ready"} {
		if resp, body := do(t, "GET", srv.URL+p, ""); resp.StatusCode != 200 {
			t.Errorf("%s = %d %s", p, resp.StatusCode, body)
		}
	}
}

func TestCreateGetList(t *testing.T) {
	srv := newServer(t)
	resp, body := do(t, "POST", srv.URL+"/orders", `{"item":"espresso","quantity":2}`)
	if resp.StatusCode != 201 || resp.Header.Get("Location") != "/orders/1" {
		t.Fatalf("create = %d %s (Location %q)", resp.StatusCode, body, resp.Header.Get("Location"))
	}
	resp, body = do(t, "GET", srv.URL+"/orders/1", "")
	var o Order
	if err := json.Unmarshal([]byte(body), &o); err != nil || resp.StatusCode != 200 || o.Item != "espresso" || o.Quantity != 2 {
		t.Fatalf("get = %d %s", resp.StatusCode, body)
	}
	_, body = do(t, "GET", srv.URL+"/orders", "")
	var list []Order
	if err := json.Unmarshal([]byte(body), &list); err != nil || len(list) != 1 {
		t.Fatalf("list = %s", body)
	}
}

func TestValidation(t *testing.T) {
	srv := newServer(t)
	cases := map[string]string{
		`{"item":"","quantity":1}`:       "item must not be empty",
		`{"item":"tea","quantity":0}`:    "quantity must be between",
		`{"item":"tea","quantity":5000}`: "quantity must be between",
		`{"item":"tea","qty":1}`:         "invalid JSON body",
		`not json`:                       "invalid JSON body",
	}
	for in, want := range cases {
		resp, body := do(t, "POST", srv.URL+"/orders", in)
		if resp.StatusCode != 400 || !strings.Contains(body, want) {
			t.Errorf("POST %s = %d %s, want 400 with %q", in, resp.StatusCode, body, want)
		}
	}
	if resp, _ := do(t, "GET", srv.URL+"/orders/42", ""); resp.StatusCode != 404 {
		t.Errorf("missing order = %d, want 404", resp.StatusCode)
	}
	if resp, _ := do(t, "GET", srv.URL+"/orders/abc", ""); resp.StatusCode != 400 {
		t.Errorf("bad id = %d, want 400", resp.StatusCode)
	}
}
