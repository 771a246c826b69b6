package registry

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

// keychain resolves credentials per registry host from what the options gave:
// explicit credentials first, then Docker config entries, else anonymous.
// It never reads ~/.docker or runs credential helpers on its own.
type keychain struct {
	explicit map[string]authn.AuthConfig
	docker   map[string]authn.AuthConfig
}

var _ authn.Keychain = (*keychain)(nil)

// Resolve implements authn.Keychain.
func (k *keychain) Resolve(target authn.Resource) (authn.Authenticator, error) {
	host := normalizeHost(target.RegistryStr())
	if cfg, ok := k.explicit[host]; ok {
		return authn.FromConfig(cfg), nil
	}
	if cfg, ok := k.docker[host]; ok {
		return authn.FromConfig(cfg), nil
	}
	return authn.Anonymous, nil
}

// hasCredentials reports whether any credentials are configured for host.
func (k *keychain) hasCredentials(host string) bool {
	host = normalizeHost(host)
	_, a := k.explicit[host]
	_, b := k.docker[host]
	return a || b
}

// normalizeHost maps the spellings of a registry host that Docker configs
// and users use ("https://index.docker.io/v1/", "docker.io", "ghcr.io/")
// to go-containerregistry's RegistryStr form.
func normalizeHost(h string) string {
	h = strings.TrimSpace(h)
	if strings.Contains(h, "://") {
		if u, err := url.Parse(h); err == nil {
			h = u.Host
		}
	}
	if i := strings.Index(h, "/"); i >= 0 {
		h = h[:i]
	}
	h = strings.ToLower(h)
	if reg, err := name.NewRegistry(h); err == nil {
		return reg.RegistryStr()
	}
	return h
}

// dockerConfig is the part of ~/.docker/config.json that holds inline
// credentials.
type dockerConfig struct {
	Auths map[string]struct {
		Auth          string `json:"auth"`
		Username      string `json:"username"`
		Password      string `json:"password"`
		IdentityToken string `json:"identitytoken"`
		RegistryToken string `json:"registrytoken"`
	} `json:"auths"`
	CredsStore  string            `json:"credsStore"`
	CredHelpers map[string]string `json:"credHelpers"`
}

// parseDockerConfig reads the inline "auths" entries of a Docker config.
// source names the file for error messages; the content itself (which holds
// secrets) never appears in an error.
func parseDockerConfig(source string, data []byte) (map[string]authn.AuthConfig, error) {
	var cfg dockerConfig
	if err := json.Unmarshal(data, &cfg); err != nil {
		return nil, fmt.Errorf("docker config %s: not valid JSON (%s)", source, jsonErrorPosition(err))
	}
	out := make(map[string]authn.AuthConfig, len(cfg.Auths))
	for host, a := range cfg.Auths {
		ac := authn.AuthConfig{
			Username:      a.Username,
			Password:      a.Password,
			IdentityToken: a.IdentityToken,
			RegistryToken: a.RegistryToken,
		}
		if a.Auth != "" {
			raw, err := base64.StdEncoding.DecodeString(a.Auth)
			if err != nil {
				return nil, fmt.Errorf("docker config %s: auths[%q].auth is not valid base64", source, host)
			}
			user, pass, ok := strings.Cut(string(raw), ":")
			if !ok {
				return nil, fmt.Errorf("docker config %s: auths[%q].auth does not decode to user:password", source, host)
			}
			ac.Username, ac.Password = user, pass
		}
		if ac == (authn.AuthConfig{}) {
			continue
		}
		out[normalizeHost(host)] = ac
	}
	if len(out) == 0 && (cfg.CredsStore != "" || len(cfg.CredHelpers) > 0) {
		return nil, fmt.Errorf("docker config %s: only credential helpers are configured (credsStore/credHelpers), which slipway does not run; give inline auths entries or explicit credentials", source)
	}
	return out, nil
}

// jsonErrorPosition describes a JSON error without quoting the input.
func jsonErrorPosition(err error) string {
	switch e := err.(type) {
	case *json.SyntaxError:
		return fmt.Sprintf("syntax error at byte %d", e.Offset)
	case *json.UnmarshalTypeError:
		return fmt.Sprintf("field %q has the wrong type", e.Field)
	}
	return "cannot decode"
}
