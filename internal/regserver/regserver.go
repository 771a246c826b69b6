// Package regserver serves a real OCI distribution registry
// (go-containerregistry's pkg/registry) whose content survives restarts:
// blobs are stored on disk and every successful manifest write or delete is
// appended to a journal that is replayed when the server starts. It backs
// slipway's embedded registry, which runs as a Dagger service over a cache
// volume, so that build avoidance works across runs with no external
// registry.
package regserver

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/registry"
)

// maxManifest bounds the size of a manifest request body kept in memory.
const maxManifest = 8 << 20

// record is one journaled manifest request.
type record struct {
	Method      string `json:"method"`
	Path        string `json:"path"`
	ContentType string `json:"contentType,omitempty"`
	Body        []byte `json:"body,omitempty"`
}

// Server is a persistent registry handler.
type Server struct {
	inner   http.Handler
	mu      sync.Mutex
	journal *os.File
	// Replayed is how many journal records were applied at start.
	Replayed int
}

// Open creates dir if needed and returns a registry persisted in it,
// replaying the manifest journal. logger may be nil.
func Open(dir string, logger *log.Logger) (*Server, error) {
	blobs := filepath.Join(dir, "blobs")
	if err := os.MkdirAll(blobs, 0o755); err != nil {
		return nil, fmt.Errorf("creating %s: %w", blobs, err)
	}
	if logger == nil {
		logger = log.New(io.Discard, "", 0)
	}
	s := &Server{inner: registry.New(
		registry.WithBlobHandler(registry.NewDiskBlobHandler(blobs)),
		registry.WithReferrersSupport(true),
		registry.Logger(logger),
	)}
	jpath := filepath.Join(dir, "manifests.journal")
	if err := s.replay(jpath); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(jpath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening the manifest journal: %w", err)
	}
	s.journal = f
	return s, nil
}

// Close closes the journal.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.journal.Close()
}

func (s *Server) replay(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("opening the manifest journal: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 2*maxManifest)
	line := 0
	for sc.Scan() {
		line++
		var r record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			// A torn last line (crash mid-append) is dropped; anything
			// else means the journal is not ours.
			if !hasMore(sc) {
				break
			}
			return fmt.Errorf("%s:%d: corrupt journal record: %w", path, line, err)
		}
		req := httptest.NewRequest(r.Method, r.Path, bytes.NewReader(r.Body))
		if r.ContentType != "" {
			req.Header.Set("Content-Type", r.ContentType)
		}
		rec := httptest.NewRecorder()
		s.inner.ServeHTTP(rec, req)
		if rec.Code/100 != 2 && !(r.Method == http.MethodDelete && rec.Code == http.StatusNotFound) {
			return fmt.Errorf("%s:%d: replaying %s %s: status %d: %s", path, line, r.Method, r.Path, rec.Code, strings.TrimSpace(rec.Body.String()))
		}
		s.Replayed++
	}
	return sc.Err()
}

func hasMore(sc *bufio.Scanner) bool { return sc.Scan() }

func isManifestWrite(r *http.Request) bool {
	if r.Method != http.MethodPut && r.Method != http.MethodDelete {
		return false
	}
	return strings.HasPrefix(r.URL.Path, "/v2/") && strings.Contains(r.URL.Path, "/manifests/")
}

// ServeHTTP serves the registry API, journaling successful manifest writes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !isManifestWrite(r) {
		s.inner.ServeHTTP(w, r)
		return
	}
	var body []byte
	if r.Method == http.MethodPut {
		b, err := io.ReadAll(io.LimitReader(r.Body, maxManifest+1))
		if err != nil {
			http.Error(w, "reading manifest: "+err.Error(), http.StatusBadRequest)
			return
		}
		if len(b) > maxManifest {
			http.Error(w, "manifest too large", http.StatusRequestEntityTooLarge)
			return
		}
		body = b
		r.Body = io.NopCloser(bytes.NewReader(b))
	}
	// Serialise manifest writes so the journal order is the applied order.
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := httptest.NewRecorder()
	s.inner.ServeHTTP(rec, r)
	if rec.Code/100 == 2 {
		line, err := json.Marshal(record{Method: r.Method, Path: r.URL.RequestURI(), ContentType: r.Header.Get("Content-Type"), Body: body})
		if err == nil {
			_, err = s.journal.Write(append(line, '\n'))
		}
		if err == nil {
			err = s.journal.Sync()
		}
		if err != nil {
			http.Error(w, "persisting manifest: "+err.Error(), http.StatusInternalServerError)
			return
		}
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	w.Write(rec.Body.Bytes())
}
