// Command etcd is the etcd server of the verification tests' Kubernetes
// control plane (go.etcd.io/etcd/server/v3, pinned in go.mod).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
