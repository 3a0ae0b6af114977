// Command etcd is etcd's own server entry point, built from the module proxy
// at the version that k8s.io/kubernetes itself depends on.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
