package registry

import (
	"io"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// AutoCloseLayers wraps img so that every layer reader it hands out closes
// itself when read to the end. go-containerregistry's remote images hold
// one of a few download slots (remote.WithJobs) for each open layer reader
// until it is closed, and tarball.Write reads layers without closing them:
// an image of more layers than slots pulled through tarball.Write waits
// forever for a slot. Read through this wrapper, each slot is given back as
// soon as its layer is read.
func AutoCloseLayers(img v1.Image) v1.Image { return autoCloseImage{img} }

type autoCloseImage struct{ v1.Image }

func (i autoCloseImage) Layers() ([]v1.Layer, error) {
	ls, err := i.Image.Layers()
	if err != nil {
		return nil, err
	}
	out := make([]v1.Layer, len(ls))
	for n, l := range ls {
		out[n] = autoCloseLayer{l}
	}
	return out, nil
}

func (i autoCloseImage) LayerByDigest(h v1.Hash) (v1.Layer, error) {
	l, err := i.Image.LayerByDigest(h)
	if err != nil {
		return nil, err
	}
	return autoCloseLayer{l}, nil
}

func (i autoCloseImage) LayerByDiffID(h v1.Hash) (v1.Layer, error) {
	l, err := i.Image.LayerByDiffID(h)
	if err != nil {
		return nil, err
	}
	return autoCloseLayer{l}, nil
}

type autoCloseLayer struct{ v1.Layer }

func (l autoCloseLayer) Compressed() (io.ReadCloser, error) {
	rc, err := l.Layer.Compressed()
	if err != nil {
		return nil, err
	}
	return &eofCloser{rc: rc}, nil
}

func (l autoCloseLayer) Uncompressed() (io.ReadCloser, error) {
	rc, err := l.Layer.Uncompressed()
	if err != nil {
		return nil, err
	}
	return &eofCloser{rc: rc}, nil
}

// eofCloser closes the reader it wraps at the end of its data (and again
// is harmless).
type eofCloser struct {
	rc   io.ReadCloser
	once sync.Once
	err  error
}

func (e *eofCloser) Read(p []byte) (int, error) {
	n, err := e.rc.Read(p)
	if err != nil {
		e.close()
	}
	return n, err
}

func (e *eofCloser) close() { e.once.Do(func() { e.err = e.rc.Close() }) }

func (e *eofCloser) Close() error {
	e.close()
	return e.err
}
