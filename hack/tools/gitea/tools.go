//go:build tools

// Package tools pins the Gitea server that the end-to-end tests open pull
// requests on (a self-hosted forge, as teams run one), built with its
// SQLite support: go build -tags 'sqlite sqlite_unlock_notify'.
package tools

import _ "code.gitea.io/gitea"
