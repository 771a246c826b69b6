package kube

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v3"
)

// kubeconfig is the part of a kubeconfig file (kind: Config) that the
// client reads. Unknown fields are ignored, as kubectl does.
type kubeconfig struct {
	CurrentContext string `yaml:"current-context"`
	Clusters       []struct {
		Name    string            `yaml:"name"`
		Cluster kubeconfigCluster `yaml:"cluster"`
	} `yaml:"clusters"`
	Contexts []struct {
		Name    string `yaml:"name"`
		Context struct {
			Cluster   string `yaml:"cluster"`
			User      string `yaml:"user"`
			Namespace string `yaml:"namespace"`
		} `yaml:"context"`
	} `yaml:"contexts"`
	Users []struct {
		Name string         `yaml:"name"`
		User kubeconfigUser `yaml:"user"`
	} `yaml:"users"`
}

type kubeconfigCluster struct {
	Server                   string `yaml:"server"`
	CertificateAuthorityData string `yaml:"certificate-authority-data"`
	CertificateAuthority     string `yaml:"certificate-authority"`
	InsecureSkipTLSVerify    bool   `yaml:"insecure-skip-tls-verify"`
	TLSServerName            string `yaml:"tls-server-name"`
	ProxyURL                 string `yaml:"proxy-url"`
}

type kubeconfigUser struct {
	ClientCertificateData string `yaml:"client-certificate-data"`
	ClientKeyData         string `yaml:"client-key-data"`
	ClientCertificate     string `yaml:"client-certificate"`
	ClientKey             string `yaml:"client-key"`
	Token                 string `yaml:"token"`
	TokenFile             string `yaml:"tokenFile"`
	Username              string `yaml:"username"`
	Password              string `yaml:"password"`
	Exec                  *struct {
		Command string `yaml:"command"`
	} `yaml:"exec"`
	AuthProvider *struct {
		Name string `yaml:"name"`
	} `yaml:"auth-provider"`
}

// ParseKubeconfig reads a kubeconfig (YAML or JSON) and returns a client
// for one of its contexts: context, or the file's current-context when
// context is empty. Relative file paths in it (certificate-authority,
// client-certificate, client-key, tokenFile) are taken relative to the
// working directory; LoadKubeconfig takes them relative to the file, as
// kubectl does.
//
// Users that authenticate through an exec plugin or an auth-provider are
// refused: a pipeline cannot run a cloud login helper, and should be given
// a ServiceAccount token or a client certificate instead.
func ParseKubeconfig(data []byte, context string) (*Client, error) {
	return parseKubeconfig(data, context, "")
}

// LoadKubeconfig reads the kubeconfig file at path, like ParseKubeconfig,
// resolving the relative file paths in it against the file's directory.
func LoadKubeconfig(path, context string) (*Client, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	return parseKubeconfig(data, context, filepath.Dir(path))
}

func parseKubeconfig(data []byte, context, dir string) (*Client, error) {
	var kc kubeconfig
	if err := yaml.Unmarshal(data, &kc); err != nil {
		return nil, fmt.Errorf("kubeconfig: not a valid kubeconfig: %w", err)
	}
	var ctxNames []string
	for _, c := range kc.Contexts {
		ctxNames = append(ctxNames, c.Name)
	}
	name := context
	if name == "" {
		name = kc.CurrentContext
		if name == "" {
			return nil, fmt.Errorf("kubeconfig: no context given and no current-context set (contexts: %s)", list(ctxNames))
		}
	}
	ci := -1
	for i, c := range kc.Contexts {
		if c.Name == name {
			ci = i
			break
		}
	}
	if ci < 0 {
		what := "context"
		if context == "" {
			what = "current-context"
		}
		return nil, fmt.Errorf("kubeconfig: %s %q not found (contexts: %s)", what, name, list(ctxNames))
	}
	kctx := kc.Contexts[ci].Context

	if kctx.Cluster == "" {
		return nil, fmt.Errorf("kubeconfig: context %q names no cluster", name)
	}
	var cluster *kubeconfigCluster
	var clusterNames []string
	for i := range kc.Clusters {
		clusterNames = append(clusterNames, kc.Clusters[i].Name)
		if cluster == nil && kc.Clusters[i].Name == kctx.Cluster {
			cluster = &kc.Clusters[i].Cluster
		}
	}
	if cluster == nil {
		return nil, fmt.Errorf("kubeconfig: context %q names cluster %q, which is not defined (clusters: %s)", name, kctx.Cluster, list(clusterNames))
	}
	var user kubeconfigUser
	if kctx.User != "" {
		var found bool
		var userNames []string
		for i := range kc.Users {
			userNames = append(userNames, kc.Users[i].Name)
			if !found && kc.Users[i].Name == kctx.User {
				user, found = kc.Users[i].User, true
			}
		}
		if !found {
			return nil, fmt.Errorf("kubeconfig: context %q names user %q, which is not defined (users: %s)", name, kctx.User, list(userNames))
		}
	}

	where := fmt.Sprintf("cluster %q (context %q)", kctx.Cluster, name)
	server := strings.TrimRight(cluster.Server, "/")
	if server == "" {
		return nil, fmt.Errorf("kubeconfig: %s has no server", where)
	}
	su, err := url.Parse(server)
	if err != nil || (su.Scheme != "https" && su.Scheme != "http") || su.Host == "" {
		return nil, fmt.Errorf("kubeconfig: %s: server %q is not an http(s) URL", where, cluster.Server)
	}

	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: cluster.TLSServerName}
	caPEM, err := inlineOrFile(cluster.CertificateAuthorityData, cluster.CertificateAuthority, dir)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %s: certificate-authority%s: %w", where, dataSuffix(cluster.CertificateAuthorityData), err)
	}
	if caPEM != nil {
		if cluster.InsecureSkipTLSVerify {
			return nil, fmt.Errorf("kubeconfig: %s sets both a certificate authority and insecure-skip-tls-verify; keep one", where)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(caPEM) {
			return nil, fmt.Errorf("kubeconfig: %s: certificate-authority%s holds no PEM certificate", where, dataSuffix(cluster.CertificateAuthorityData))
		}
		tlsConf.RootCAs = pool
	}
	tlsConf.InsecureSkipVerify = cluster.InsecureSkipTLSVerify

	c := &Client{Server: server, Context: name, Namespace: kctx.Namespace}
	uwhere := fmt.Sprintf("user %q (context %q)", kctx.User, name)
	switch {
	case user.Exec != nil:
		return nil, fmt.Errorf("kubeconfig: %s authenticates through the exec plugin %q, which slipway does not run: give the pipeline a ServiceAccount token (user token or tokenFile) or a client certificate instead", uwhere, user.Exec.Command)
	case user.AuthProvider != nil:
		return nil, fmt.Errorf("kubeconfig: %s authenticates through the auth-provider %q, which slipway does not support: give the pipeline a ServiceAccount token (user token or tokenFile) or a client certificate instead", uwhere, user.AuthProvider.Name)
	}
	certPEM, err := inlineOrFile(user.ClientCertificateData, user.ClientCertificate, dir)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %s: client-certificate%s: %w", uwhere, dataSuffix(user.ClientCertificateData), err)
	}
	keyPEM, err := inlineOrFile(user.ClientKeyData, user.ClientKey, dir)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %s: client-key%s: %w", uwhere, dataSuffix(user.ClientKeyData), err)
	}
	switch {
	case certPEM != nil && keyPEM == nil:
		return nil, fmt.Errorf("kubeconfig: %s has a client certificate but no client-key", uwhere)
	case certPEM == nil && keyPEM != nil:
		return nil, fmt.Errorf("kubeconfig: %s has a client-key but no client certificate", uwhere)
	case certPEM != nil:
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("kubeconfig: %s: client certificate and key: %w", uwhere, err)
		}
		tlsConf.Certificates = []tls.Certificate{pair}
	}
	hasToken := user.Token != "" || user.TokenFile != ""
	hasBasic := user.Username != "" || user.Password != ""
	if hasToken && hasBasic {
		return nil, fmt.Errorf("kubeconfig: %s sets both a token and username/password; keep one", uwhere)
	}
	c.token = user.Token
	if user.TokenFile != "" {
		c.tokenFile = resolve(dir, user.TokenFile)
		if _, err := c.readTokenFile(); err != nil {
			return nil, fmt.Errorf("kubeconfig: %s: tokenFile: %w", uwhere, err)
		}
	}
	c.username, c.password = user.Username, user.Password

	if su.Scheme == "http" && (hasToken || hasBasic) {
		return nil, fmt.Errorf("kubeconfig: %s: server %q is plain http; refusing to send credentials over it", where, cluster.Server)
	}

	proxy := http.ProxyFromEnvironment
	if cluster.ProxyURL != "" {
		pu, err := url.Parse(cluster.ProxyURL)
		if err != nil || pu.Host == "" {
			return nil, fmt.Errorf("kubeconfig: %s: proxy-url %q is not a URL", where, cluster.ProxyURL)
		}
		proxy = http.ProxyURL(pu)
	}
	c.http = &http.Client{Transport: &http.Transport{
		Proxy:               proxy,
		TLSClientConfig:     tlsConf,
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
	}}
	c.Timeout = DefaultTimeout
	return c, nil
}

// inlineOrFile returns the base64-decoded data, or else the content of the
// file, or nil when neither is set.
func inlineOrFile(data, file, dir string) ([]byte, error) {
	switch {
	case data != "":
		b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(data), ""))
		if err != nil {
			return nil, errors.New("not base64")
		}
		return b, nil
	case file != "":
		return os.ReadFile(resolve(dir, file))
	}
	return nil, nil
}

func resolve(dir, p string) string {
	if dir == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}

// dataSuffix names the -data variant of a field in errors when it is the
// one set.
func dataSuffix(data string) string {
	if data != "" {
		return "-data"
	}
	return ""
}

// list joins names for an error message, sorted, or says there are none.
func list(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	s := append([]string(nil), names...)
	sort.Strings(s)
	return strings.Join(s, ", ")
}
