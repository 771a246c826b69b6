package sbom

import (
	"sort"
	"strings"
)

// purl is a package URL (https://github.com/package-url/purl-spec).
type purl struct {
	typ       string
	namespace string // may hold several segments separated by "/"
	name      string
	version   string
	// qualifiers are key/value pairs; empty values are dropped.
	qualifiers map[string]string
}

// String renders p with every segment percent-encoded and qualifiers
// sorted by key.
func (p purl) String() string {
	var b strings.Builder
	b.WriteString("pkg:")
	b.WriteString(p.typ)
	b.WriteByte('/')
	if p.namespace != "" {
		for _, seg := range strings.Split(p.namespace, "/") {
			if seg == "" {
				continue
			}
			b.WriteString(escape(seg))
			b.WriteByte('/')
		}
	}
	b.WriteString(escape(p.name))
	if p.version != "" {
		b.WriteByte('@')
		b.WriteString(escape(p.version))
	}
	keys := make([]string, 0, len(p.qualifiers))
	for k, v := range p.qualifiers {
		if v != "" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for i, k := range keys {
		if i == 0 {
			b.WriteByte('?')
		} else {
			b.WriteByte('&')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(escape(p.qualifiers[k]))
	}
	return b.String()
}

// escape percent-encodes everything but the unreserved characters of RFC
// 3986, as the purl specification asks for names, versions and qualifier
// values.
func escape(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '.', c == '_', c == '~':
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String()
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
