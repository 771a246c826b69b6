package registrytest

import (
	"crypto/subtle"
	"net/http"
	"strings"
	"sync/atomic"
)

// Auth guards a registry with credentials and counts the requests it
// refused.
type Auth struct {
	next   http.Handler
	check  func(r *http.Request) bool
	scheme string

	denied  atomic.Int64
	allowed atomic.Int64
}

// BasicAuth requires HTTP basic authentication with user and password on
// every /v2/ request, answering 401 with a Basic challenge otherwise.
func BasicAuth(next http.Handler, user, password string) *Auth {
	return &Auth{
		next:   next,
		scheme: `Basic realm="slipway-test"`,
		check: func(r *http.Request) bool {
			u, p, ok := r.BasicAuth()
			return ok && subtle.ConstantTimeCompare([]byte(u), []byte(user)) == 1 &&
				subtle.ConstantTimeCompare([]byte(p), []byte(password)) == 1
		},
	}
}

// BearerAuth requires "Authorization: Bearer <token>" on every /v2/ request,
// answering 401 with a Basic challenge otherwise (clients holding a registry
// token send it as a bearer token to either challenge).
func BearerAuth(next http.Handler, token string) *Auth {
	return &Auth{
		next:   next,
		scheme: `Basic realm="slipway-test"`,
		check: func(r *http.Request) bool {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			return ok && subtle.ConstantTimeCompare([]byte(got), []byte(token)) == 1
		},
	}
}

// Denied returns how many requests were refused, the unauthenticated
// version check ("GET /v2/") excluded: clients send it first to learn the
// challenge.
func (a *Auth) Denied() int64 { return a.denied.Load() }

// Allowed returns how many requests got through.
func (a *Auth) Allowed() int64 { return a.allowed.Load() }

// ServeHTTP implements http.Handler.
func (a *Auth) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !a.check(r) {
		if r.URL.Path != "/v2/" {
			a.denied.Add(1)
		}
		w.Header().Set("WWW-Authenticate", a.scheme)
		writeRegistryError(w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required")
		return
	}
	a.allowed.Add(1)
	a.next.ServeHTTP(w, r)
}
