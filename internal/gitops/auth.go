package gitops

import (
	"errors"
	"fmt"
	"net"
	"os"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// Auth is how to authenticate to the GitOps remote. The zero value sends no
// credentials (local paths, anonymous HTTP). Secrets inside are never
// logged or put into errors.
type Auth struct {
	method transport.AuthMethod
}

// TokenAuth authenticates over HTTPS with a token, sent as HTTP basic auth
// with the user name x-access-token (what GitHub, GitHub Enterprise and
// most forges accept for app and personal tokens).
func TokenAuth(token string) Auth {
	return BasicAuth("x-access-token", token)
}

// BasicAuth authenticates over HTTPS with a user name and password.
func BasicAuth(user, password string) Auth {
	return Auth{method: &githttp.BasicAuth{Username: user, Password: password}}
}

// ErrHostKey means the SSH server's host key was not the one expected.
var ErrHostKey = errors.New("SSH host key not trusted")

// SSHKeyAuth authenticates over SSH as user (usually "git") with a PEM or
// OpenSSH private key, decrypted with passphrase when it is encrypted.
// hostKey checks the server's key (see KnownHosts and FixedHostKey); it is
// required: slipway never trusts an unknown host.
func SSHKeyAuth(user string, privateKey []byte, passphrase string, hostKey ssh.HostKeyCallback) (Auth, error) {
	if hostKey == nil {
		return Auth{}, errors.New("SSH auth: a host key check is required (KnownHosts or FixedHostKey)")
	}
	if user == "" {
		user = "git"
	}
	keys, err := gitssh.NewPublicKeys(user, privateKey, passphrase)
	if err != nil {
		// The parser's message says what is wrong with the key, not the key.
		return Auth{}, fmt.Errorf("SSH auth: reading the private key: %w", err)
	}
	keys.HostKeyCallback = func(host string, remote net.Addr, key ssh.PublicKey) error {
		if err := hostKey(host, remote, key); err != nil {
			return fmt.Errorf("%w for %s (%s %s): %v", ErrHostKey, host, key.Type(), ssh.FingerprintSHA256(key), err)
		}
		return nil
	}
	return Auth{method: keys}, nil
}

// KnownHosts builds a host key check from known_hosts content (hashed
// host names included).
func KnownHosts(data []byte) (ssh.HostKeyCallback, error) {
	f, err := os.CreateTemp("", "slipway-known-hosts-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	cb, err := knownhosts.New(f.Name())
	if err != nil {
		return nil, fmt.Errorf("parsing known_hosts: %w", err)
	}
	return cb, nil
}

// FixedHostKey accepts exactly one host key, given in authorized_keys
// format (`ssh-ed25519 AAAA…`).
func FixedHostKey(authorizedKey []byte) (ssh.HostKeyCallback, error) {
	pub, _, _, _, err := ssh.ParseAuthorizedKey(authorizedKey)
	if err != nil {
		return nil, fmt.Errorf("parsing the host key: %w", err)
	}
	return ssh.FixedHostKey(pub), nil
}
