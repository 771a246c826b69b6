package registrytest

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
)

// Counter is a counting proxy in front of a registry: it counts requests and
// the bytes clients send as blob uploads, and records manifest writes.
type Counter struct {
	next http.Handler

	requests      atomic.Int64
	uploadBytes   atomic.Int64 // request body bytes of PATCH/PUT/POST to /blobs/uploads/
	mounts        atomic.Int64 // successful cross-repository mounts (POST ... 201)
	uploadsBegun  atomic.Int64 // POSTs to /blobs/uploads/ answered 202
	mu            sync.Mutex
	manifestPuts  map[string]int // "<repo>:<ref>" -> successful PUTs
	methodsByPath map[string]int // "METHOD /v2/.../kind" -> count
}

// Count wraps next in a Counter.
func Count(next http.Handler) *Counter {
	return &Counter{next: next, manifestPuts: map[string]int{}, methodsByPath: map[string]int{}}
}

// Stats is a snapshot of a Counter.
type Stats struct {
	// Requests is the number of requests seen.
	Requests int64
	// UploadBytes is the number of request body bytes sent to blob upload
	// endpoints (the layer and config bytes that crossed the wire).
	UploadBytes int64
	// Mounts is the number of blobs mounted from another repository.
	Mounts int64
	// UploadsBegun is the number of blob upload sessions opened.
	UploadsBegun int64
}

// Stats returns the counts so far.
func (c *Counter) Stats() Stats {
	return Stats{
		Requests:     c.requests.Load(),
		UploadBytes:  c.uploadBytes.Load(),
		Mounts:       c.mounts.Load(),
		UploadsBegun: c.uploadsBegun.Load(),
	}
}

// Reset zeroes the counts.
func (c *Counter) Reset() {
	c.requests.Store(0)
	c.uploadBytes.Store(0)
	c.mounts.Store(0)
	c.uploadsBegun.Store(0)
	c.mu.Lock()
	c.manifestPuts = map[string]int{}
	c.methodsByPath = map[string]int{}
	c.mu.Unlock()
}

// ManifestPuts returns how many times the manifest "<repo>:<ref>" (ref a tag
// or digest) was written successfully.
func (c *Counter) ManifestPuts(repo, ref string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.manifestPuts[repo+":"+ref]
}

// Requests returns how many requests matched method and a path containing
// substr.
func (c *Counter) Requests(method, substr string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for k, v := range c.methodsByPath {
		m, p, _ := strings.Cut(k, " ")
		if m == method && strings.Contains(p, substr) {
			n += v
		}
	}
	return n
}

type countingReader struct {
	r io.ReadCloser
	n *atomic.Int64
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func (c countingReader) Close() error { return c.r.Close() }

// ServeHTTP implements http.Handler.
func (c *Counter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.requests.Add(1)
	c.mu.Lock()
	c.methodsByPath[r.Method+" "+r.URL.Path]++
	c.mu.Unlock()
	_, rest, isBlob := splitBlobPath(r.URL.Path)
	isUpload := isBlob && strings.HasPrefix(rest, "uploads")
	if isUpload && r.Body != nil {
		r.Body = countingReader{r: r.Body, n: &c.uploadBytes}
	}
	rec := &statusRecorder{ResponseWriter: w}
	c.next.ServeHTTP(rec, r)
	if isUpload && r.Method == http.MethodPost {
		switch rec.status {
		case http.StatusCreated:
			if r.URL.Query().Get("mount") != "" {
				c.mounts.Add(1)
			}
		case http.StatusAccepted:
			c.uploadsBegun.Add(1)
		}
	}
	if repo, ref, ok := splitManifestPath(r.URL.Path); ok && r.Method == http.MethodPut && rec.status/100 == 2 {
		c.mu.Lock()
		c.manifestPuts[repo+":"+ref]++
		c.mu.Unlock()
	}
}
