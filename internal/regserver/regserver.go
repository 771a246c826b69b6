// Package regserver serves a real OCI distribution registry
// (go-containerregistry's pkg/registry) whose content survives restarts:
// blobs are stored on disk and every successful manifest write or delete is
// appended to a journal that is replayed when the server starts. It backs
// slipway's embedded registry, which runs as a Dagger service over a cache
// volume, so that build avoidance works across runs with no external
// registry.
//
// Several servers may share one directory at once (two Dagger sessions each
// start their own instance of the service over the same cache volume):
// manifest writes take an exclusive lock on the journal, and every request
// first applies what other instances appended since, so all instances serve
// the same content.
package regserver

import (
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
	"syscall"

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
	path    string
	// offset is how far into the journal this instance has applied.
	offset int64
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
	s.path = filepath.Join(dir, "manifests.journal")
	f, err := os.OpenFile(s.path, os.O_CREATE|os.O_RDWR|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening the manifest journal: %w", err)
	}
	s.journal = f
	n, err := s.catchUp()
	if err != nil {
		f.Close()
		return nil, err
	}
	s.Replayed = n
	return s, nil
}

// Close closes the journal.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.journal.Close()
}

// catchUp applies the journal records appended since this instance last
// looked (all of them at start). An unterminated last line (an instance
// died mid-append, or is appending now) is left for later; a corrupt line
// after the first is one such line since terminated, and is skipped.
// Callers hold s.mu.
func (s *Server) catchUp() (int, error) {
	st, err := s.journal.Stat()
	if err != nil {
		return 0, fmt.Errorf("reading the manifest journal: %w", err)
	}
	if st.Size() <= s.offset {
		return 0, nil
	}
	buf := make([]byte, st.Size()-s.offset)
	if _, err := s.journal.ReadAt(buf, s.offset); err != nil && !errors.Is(err, io.EOF) {
		return 0, fmt.Errorf("reading the manifest journal: %w", err)
	}
	applied := 0
	for len(buf) > 0 {
		nl := bytes.IndexByte(buf, '\n')
		if nl < 0 {
			break // torn or still being written
		}
		line := buf[:nl]
		var r record
		if err := json.Unmarshal(line, &r); err != nil {
			if s.offset == 0 {
				return applied, fmt.Errorf("%s at byte 0: corrupt journal record (is this a slipway registry directory?): %w", s.path, err)
			}
			// A line torn by an instance that died mid-append, since
			// terminated by the next writer: skip it.
			s.offset += int64(nl + 1)
			buf = buf[nl+1:]
			continue
		}
		if err := s.apply(r); err != nil {
			return applied, fmt.Errorf("%s at byte %d: %w", s.path, s.offset, err)
		}
		applied++
		s.offset += int64(nl + 1)
		buf = buf[nl+1:]
	}
	return applied, nil
}

// terminateTornTail ends a line left unterminated by an instance that died
// mid-append, so that the next record starts on a line of its own.
func (s *Server) terminateTornTail() error {
	st, err := s.journal.Stat()
	if err != nil || st.Size() == 0 {
		return err
	}
	last := make([]byte, 1)
	if _, err := s.journal.ReadAt(last, st.Size()-1); err != nil {
		return err
	}
	if last[0] == '\n' {
		return nil
	}
	_, err = s.journal.Write([]byte{'\n'})
	return err
}

// apply replays one journaled request against the in-memory registry.
func (s *Server) apply(r record) error {
	req := httptest.NewRequest(r.Method, r.Path, bytes.NewReader(r.Body))
	if r.ContentType != "" {
		req.Header.Set("Content-Type", r.ContentType)
	}
	rec := httptest.NewRecorder()
	s.inner.ServeHTTP(rec, req)
	if rec.Code/100 != 2 && !(r.Method == http.MethodDelete && rec.Code == http.StatusNotFound) {
		return fmt.Errorf("replaying %s %s: status %d: %s", r.Method, r.Path, rec.Code, strings.TrimSpace(rec.Body.String()))
	}
	return nil
}

func isManifestWrite(r *http.Request) bool {
	if r.Method != http.MethodPut && r.Method != http.MethodDelete {
		return false
	}
	return strings.HasPrefix(r.URL.Path, "/v2/") && strings.Contains(r.URL.Path, "/manifests/")
}

// ServeHTTP serves the registry API, journaling successful manifest writes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !isManifestWrite(r) {
		s.mu.Lock()
		_, err := s.catchUp()
		s.mu.Unlock()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
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
	// Serialise manifest writes, within this instance and with the others
	// sharing the directory, so the journal order is the applied order.
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := syscall.Flock(int(s.journal.Fd()), syscall.LOCK_EX); err != nil {
		http.Error(w, "locking the manifest journal: "+err.Error(), http.StatusInternalServerError)
		return
	}
	defer syscall.Flock(int(s.journal.Fd()), syscall.LOCK_UN)
	if _, err := s.catchUp(); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if err := s.terminateTornTail(); err != nil {
		http.Error(w, "repairing the manifest journal: "+err.Error(), http.StatusInternalServerError)
		return
	}
	rec := httptest.NewRecorder()
	s.inner.ServeHTTP(rec, r)
	if rec.Code/100 == 2 {
		line, err := json.Marshal(record{Method: r.Method, Path: r.URL.RequestURI(), ContentType: r.Header.Get("Content-Type"), Body: body})
		if err == nil {
			var n int
			n, err = s.journal.Write(append(line, '\n'))
			s.offset += int64(n)
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
