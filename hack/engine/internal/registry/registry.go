// Package registry serves go-containerregistry's pkg/registry with blobs on
// disk and a manifest journal, so that the harness's local registry keeps its
// images (base images and everything tests published) across restarts.
package registry

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
)

// record is one manifest change in the journal.
type record struct {
	Method      string `json:"method"`
	Path        string `json:"path"`
	ContentType string `json:"contentType,omitempty"`
	Body        []byte `json:"body,omitempty"`
}

// Handler is a registry whose state lives in a directory.
type Handler struct {
	inner   http.Handler
	mu      sync.Mutex
	journal *os.File
}

var _ http.Handler = (*Handler)(nil)

// New opens (or creates) the registry state in dir: blobs under dir/blobs,
// manifests replayed from dir/manifests.jsonl. Logs go to logger.
func New(dir string, logger *log.Logger) (*Handler, error) {
	blobs := filepath.Join(dir, "blobs")
	if err := os.MkdirAll(blobs, 0o755); err != nil {
		return nil, fmt.Errorf("creating registry blob directory: %w", err)
	}
	h := &Handler{inner: ggcrregistry.New(
		ggcrregistry.Logger(logger),
		ggcrregistry.WithBlobHandler(ggcrregistry.NewDiskBlobHandler(blobs)),
		ggcrregistry.WithReferrersSupport(true),
	)}
	jpath := filepath.Join(dir, "manifests.jsonl")
	kept, err := h.replay(jpath)
	if err != nil {
		return nil, err
	}
	// Compact: rewrite the journal with the records that still apply.
	tmp := jpath + ".tmp"
	if err := writeRecords(tmp, kept); err != nil {
		return nil, fmt.Errorf("compacting %s: %w", jpath, err)
	}
	if err := os.Rename(tmp, jpath); err != nil {
		return nil, err
	}
	h.journal, err = os.OpenFile(jpath, os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", jpath, err)
	}
	return h, nil
}

// replay applies the journal and returns the records that still apply (the
// last PUT of each manifest path not followed by a DELETE).
func (h *Handler) replay(jpath string) ([]record, error) {
	f, err := os.Open(jpath)
	if os.IsNotExist(err) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("opening %s: %w", jpath, err)
	}
	defer f.Close()
	var order []string
	last := map[string]record{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for line := 1; sc.Scan(); line++ {
		var r record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			// A torn last line after a crash: stop there.
			log.Printf("registry journal %s line %d: %v (ignored)", jpath, line, err)
			break
		}
		rec := httptest.NewRecorder()
		h.inner.ServeHTTP(rec, r.request())
		if rec.Code >= 300 {
			continue
		}
		if _, seen := last[r.Path]; !seen {
			order = append(order, r.Path)
		}
		last[r.Path] = r
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", jpath, err)
	}
	var kept []record
	for _, p := range order {
		if r := last[p]; r.Method == http.MethodPut {
			kept = append(kept, r)
		}
	}
	return kept, nil
}

func (r record) request() *http.Request {
	req := httptest.NewRequest(r.Method, r.Path, bytes.NewReader(r.Body))
	if r.ContentType != "" {
		req.Header.Set("Content-Type", r.ContentType)
	}
	return req
}

func writeRecords(file string, rs []record) error {
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	defer f.Close()
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	for _, r := range rs {
		if err := enc.Encode(r); err != nil {
			return err
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Sync()
}

// isManifest reports whether the request addresses /v2/<name>/manifests/<ref>.
func isManifest(r *http.Request) bool {
	elem := strings.Split(r.URL.Path, "/")
	return len(elem) >= 5 && elem[1] == "v2" && elem[len(elem)-2] == "manifests"
}

// ServeHTTP serves the registry API and journals successful manifest writes.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !isManifest(r) || (r.Method != http.MethodPut && r.Method != http.MethodDelete) {
		h.inner.ServeHTTP(w, r)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "reading manifest: "+err.Error(), http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	rec := &statusWriter{ResponseWriter: w}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.inner.ServeHTTP(rec, r)
	if rec.code >= 300 {
		return
	}
	jr := record{Method: r.Method, Path: r.URL.Path, ContentType: r.Header.Get("Content-Type")}
	if r.Method == http.MethodPut {
		jr.Body = body
	}
	b, _ := json.Marshal(jr)
	if _, err := h.journal.Write(append(b, '\n')); err != nil {
		log.Printf("registry journal: writing %s %s: %v", r.Method, r.URL.Path, err)
	}
}

// Close closes the journal.
func (h *Handler) Close() error { return h.journal.Close() }

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (s *statusWriter) WriteHeader(code int) {
	s.code = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}
